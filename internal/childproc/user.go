package childproc

import (
	"fmt"
	"os/user"
	"strconv"
	"syscall"
)

// AsUser is Attr for a child that runs as the named user (a root test starting a program that refuses
// root, such as PgBouncer). The switch happens before the program starts, so the parent-death signal
// holds; a program that drops privileges itself (PgBouncer's -u) loses it.
func AsUser(name string) (*syscall.SysProcAttr, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("child as %s: %w", name, err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("child as %s: uid %q: %w", name, u.Uid, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("child as %s: gid %q: %w", name, u.Gid, err)
	}
	a := Attr()
	a.Credential = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	return a, nil
}
