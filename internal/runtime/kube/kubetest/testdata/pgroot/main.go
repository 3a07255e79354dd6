// Command pgroot starts the test cluster's PostgreSQL image as the official
// image does: as root it gives the data directory (a freshly provisioned,
// root-owned volume) to the postgres user, then drops to that user and runs
// the image's initialising entrypoint.
package main

import (
	"fmt"
	"os"
	"syscall"
)

const pgUID = 999

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "pgroot:", err)
		os.Exit(1)
	}
}

func run() error {
	data := os.Getenv("PGDATA")
	if data == "" {
		data = "/var/lib/postgresql/data"
	}
	if os.Geteuid() == 0 {
		if err := os.MkdirAll(data, 0o700); err != nil {
			return err
		}
		if err := os.Chown(data, pgUID, pgUID); err != nil {
			return err
		}
		if err := os.Chmod(data, 0o700); err != nil {
			return err
		}
		if err := syscall.Setgroups(nil); err != nil {
			return err
		}
		if err := syscall.Setgid(pgUID); err != nil {
			return err
		}
		if err := syscall.Setuid(pgUID); err != nil {
			return err
		}
	}
	return syscall.Exec("/pgentry", append([]string{"/pgentry"}, os.Args[1:]...), os.Environ())
}
