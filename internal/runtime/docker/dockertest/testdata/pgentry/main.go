// Command pgentry is the entrypoint of the PostgreSQL test image built from
// the host's PostgreSQL packages: on first start it initialises the data
// directory with the credentials of POSTGRES_USER, POSTGRES_PASSWORD (or
// POSTGRES_PASSWORD_FILE) and POSTGRES_DB, as the official image does, then
// it replaces itself with the server. It runs as the image's non-root user.
package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
)

const bin = "/usr/lib/postgresql/15/bin"

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "pgentry:", err)
		os.Exit(1)
	}
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func run() error {
	data := env("PGDATA", "/var/lib/postgresql/data")
	if _, err := os.Stat(filepath.Join(data, "PG_VERSION")); os.IsNotExist(err) {
		if err := initdb(data); err != nil {
			return err
		}
	}
	args := append([]string{filepath.Join(bin, "postgres"), "-D", data}, os.Args[1:]...)
	return syscall.Exec(filepath.Join(bin, "postgres"), args, os.Environ())
}

func initdb(data string) error {
	user := env("POSTGRES_USER", "postgres")
	pw := os.Getenv("POSTGRES_PASSWORD")
	if f := os.Getenv("POSTGRES_PASSWORD_FILE"); f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		pw = strings.TrimSpace(string(b))
	}
	if pw == "" {
		return fmt.Errorf("set POSTGRES_PASSWORD or POSTGRES_PASSWORD_FILE")
	}
	db := env("POSTGRES_DB", user)
	pwfile := filepath.Join(os.TempDir(), "pgpass")
	if err := os.WriteFile(pwfile, []byte(pw+"\n"), 0o600); err != nil {
		return err
	}
	defer os.Remove(pwfile)
	cmd := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", user, "--pwfile="+pwfile,
		"--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("initdb: %w", err)
	}
	conf, err := os.OpenFile(filepath.Join(data, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = conf.WriteString("\nlisten_addresses = '*'\njit = off\n")
	if cerr := conf.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	hba, err := os.OpenFile(filepath.Join(data, "pg_hba.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = hba.WriteString("\nhost all all all scram-sha-256\n")
	if cerr := hba.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if db == "postgres" {
		return nil
	}
	single := exec.Command(filepath.Join(bin, "postgres"), "--single", "-D", data, "postgres")
	single.Stdin = strings.NewReader(fmt.Sprintf("CREATE DATABASE \"%s\" OWNER \"%s\";\n", strings.ReplaceAll(db, `"`, `""`), strings.ReplaceAll(user, `"`, `""`)))
	single.Stdout, single.Stderr = os.Stdout, os.Stderr
	if err := single.Run(); err != nil {
		return fmt.Errorf("create database %s: %w", db, err)
	}
	return nil
}
