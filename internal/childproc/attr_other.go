//go:build !linux

package childproc

import "syscall"

// Attr is the SysProcAttr of a child: its own process group (outside Linux there is no parent-death
// signal, so a killed test can leave its children running).
func Attr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
