package childproc

import "syscall"

// Attr is the SysProcAttr of a child: its own process group, SIGKILLed when its parent dies. The signal
// follows the thread that started the child; the Go runtime does not end threads a goroutine has not
// locked, and the callers lock none.
func Attr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
