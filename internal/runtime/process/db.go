package process

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/quai-dev/quai/internal/fsutil"
	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/stack"
)

// Replica kinds.
const (
	kindApp      = "app"
	kindPostgres = "postgres"
	kindMySQL    = "mysql"
	kindRedis    = "redis"
)

// dbStartPeriod is how long a database may take to become ready before
// failed checks count against it (recovery after a crash can be slow).
const dbStartPeriod = time.Minute

// dbKind recognises the well-known database images (any registry and tag)
// that run from host binaries when the service gives no process command.
func dbKind(svc *stack.Service) string {
	if svc.Process != nil && len(svc.Process.Command) > 0 {
		return ""
	}
	img := svc.Image
	if i := strings.IndexByte(img, '@'); i >= 0 {
		img = img[:i]
	}
	if i := strings.LastIndexByte(img, '/'); i >= 0 {
		img = img[i+1:]
	}
	if i := strings.IndexByte(img, ':'); i >= 0 {
		img = img[:i]
	}
	switch img {
	case "postgres":
		return kindPostgres
	case "mysql", "mariadb":
		return kindMySQL
	case "redis":
		return kindRedis
	}
	return ""
}

// installHint says what provides each kind's server binaries.
var installHint = map[string]string{
	kindPostgres: "apt-get install postgresql",
	kindMySQL:    "apt-get install mariadb-server",
	kindRedis:    "apt-get install redis-server",
}

func (r *Runtime) binDirs() []string {
	if r.opts.BinDirs != nil {
		return r.opts.BinDirs
	}
	pg, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(pg, func(i, j int) bool { return pgVersion(pg[i]) > pgVersion(pg[j]) })
	dirs := append(pg, "/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin", "/usr/local/pgsql/bin")
	return append(dirs, filepath.SplitList(os.Getenv("PATH"))...)
}

func pgVersion(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

// findBins returns the first directory holding every one of names, each
// name being a list of alternatives; found[i] is the path for names[i].
func (r *Runtime) findBins(names ...[]string) ([]string, error) {
	for _, d := range r.binDirs() {
		var found []string
		for _, alts := range names {
			for _, n := range alts {
				if p := filepath.Join(d, n); executable(p) == nil {
					found = append(found, p)
					break
				}
			}
		}
		if len(found) == len(names) {
			return found, nil
		}
	}
	return nil, os.ErrNotExist
}

// serverBinaries are the binaries each kind needs, each a list of alternatives.
var serverBinaries = map[string][][]string{
	kindPostgres: {{"postgres"}, {"initdb"}},
	kindMySQL:    {{"mariadbd", "mysqld"}},
	kindRedis:    {{"redis-server"}},
}

func (r *Runtime) checkDBBinaries(kind string, svc *stack.Service) error {
	if _, err := r.findBins(serverBinaries[kind]...); err != nil {
		var names []string
		for _, alts := range serverBinaries[kind] {
			names = append(names, strings.Join(alts, " or "))
		}
		return r.missing(kind, svc, strings.Join(names, " and "))
	}
	return nil
}

func (r *Runtime) missing(kind string, svc *stack.Service, what string) error {
	where := "/usr/lib/postgresql/*/bin, /usr/sbin, /usr/bin, /usr/local/bin or PATH"
	if r.opts.BinDirs != nil {
		where = strings.Join(r.opts.BinDirs, ", ")
	}
	return fmt.Errorf("%w: service %s uses image %q, which the process runtime runs from the host's %s, but %s was not found in %s: install it (%s) or deploy with the docker runtime",
		runtime.ErrMissingDependency, svc.Name, svc.Image, kind, what, where, installHint[kind])
}

// dbUser is the system user a database server runs as when the daemon is
// root: postgres and mysqld refuse (or should not) run as root.
func (r *Runtime) dbUser(kind string, svc *stack.Service) (*credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup(kind)
	if err != nil {
		if kind == kindRedis {
			return nil, nil
		}
		return nil, fmt.Errorf("%w: service %s (%s) must not run as root and there is no %q system user: install the server package (%s), which creates it, or create it (adduser --system --group %s), or deploy with the docker runtime",
			runtime.ErrMissingDependency, svc.Name, svc.Image, kind, installHint[kind], kind)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("user %s has a non-numeric uid or gid", kind)
	}
	return &credential{User: kind, UID: uint32(uid), GID: uint32(gid), Home: u.HomeDir}, nil
}

// checkReachable reports a directory on the way to dir, or dir itself, that
// c's user cannot search, which would make the server or app fail with a
// cryptic error.
func checkReachable(dir string, c *credential) error {
	if c == nil || c.UID == 0 {
		return nil
	}
	for d := dir; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return err
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if ok {
			m := fi.Mode().Perm()
			can := m&0o001 != 0 || st.Uid == c.UID && m&0o100 != 0 || st.Gid == c.GID && m&0o010 != 0
			if !can {
				return fmt.Errorf("the %s user cannot reach %s because it may not enter %s: run chmod o+x %s, or use a data directory under a world-searchable path", c.User, dir, d, d)
			}
		}
		if d == "/" || d == "." {
			return nil
		}
	}
}

// volumeDir is where a database keeps its data: its first named volume, or
// a volume named after the service.
func volumeDir(svc *stack.Service, volumes string) string {
	for _, m := range svc.Mounts {
		if m.Type == stack.MountVolume && m.Source != "" {
			return filepath.Join(volumes, m.Source)
		}
	}
	return filepath.Join(volumes, svc.Name)
}

// socketDir returns a directory for unix sockets: the replica's run
// directory when its path is short enough for a socket address (108 bytes),
// else a directory under /tmp named after it.
func socketDir(dir string, spec *shimSpec) string {
	d := filepath.Join(dir, runDir)
	if len(d)+len("/.s.PGSQL.65535.lock") < 100 {
		return d
	}
	sum := sha256.Sum256([]byte(dir))
	d = filepath.Join(os.TempDir(), "quai-"+hex.EncodeToString(sum[:6]))
	spec.Cleanup = append(spec.Cleanup, d)
	return d
}

// secretOrEnv returns env[name], or the content of the file env[name_FILE].
func secretOrEnv(env map[string]string, names ...string) (string, error) {
	for _, n := range names {
		if v := env[n]; v != "" {
			return v, nil
		}
		if f := env[n+"_FILE"]; f != "" {
			b, err := os.ReadFile(f)
			if err != nil {
				return "", fmt.Errorf("%s_FILE: %w", n, err)
			}
			return strings.TrimRight(string(b), "\r\n"), nil
		}
	}
	return "", nil
}

// userArgs returns the service command's arguments after the server name
// (postgres -c max_connections=200), so stack files written for the image
// keep their server options.
func userArgs(svc *stack.Service, servers ...string) []string {
	if len(svc.Command) < 2 {
		return nil
	}
	for _, s := range servers {
		if filepath.Base(svc.Command[0]) == s {
			return append([]string(nil), svc.Command[1:]...)
		}
	}
	if strings.HasPrefix(svc.Command[0], "-") {
		return append([]string(nil), svc.Command...)
	}
	return nil
}

func (r *Runtime) prepareDB(ctx context.Context, kind string, rs runtime.ReplicaSpec, dir, volumes string, env map[string]string, cred *credential, spec *shimSpec) error {
	svc := rs.Service
	vol := volumeDir(svc, volumes)
	if err := os.MkdirAll(vol, 0o755); err != nil {
		return err
	}
	if err := chownTo(vol, cred); err != nil {
		return err
	}
	if err := chownTo(filepath.Join(dir, runDir), cred); err != nil {
		return err
	}
	if err := checkReachable(filepath.Dir(vol), cred); err != nil {
		return err
	}
	sock := socketDir(dir, spec)
	if err := os.MkdirAll(sock, 0o755); err != nil {
		return err
	}
	if err := chownTo(sock, cred); err != nil {
		return err
	}
	spec.Kind, spec.Credential, spec.Dir = kind, cred, vol
	spec.Health = healthSpec{Interval: r.opts.HealthInterval, Timeout: 5 * time.Second, Retries: 3, StartPeriod: dbStartPeriod}
	port := strconv.Itoa(spec.Port)
	switch kind {
	case kindPostgres:
		return r.preparePostgres(ctx, svc, dir, vol, sock, port, env, cred, spec)
	case kindRedis:
		bins, err := r.findBins([]string{"redis-server"})
		if err != nil {
			return r.missing(kind, svc, "redis-server")
		}
		spec.Argv = append([]string{bins[0]}, userArgs(svc, "redis-server")...)
		spec.Argv = append(spec.Argv, "--port", port, "--bind", "127.0.0.1", "--dir", vol, "--daemonize", "no",
			"--unixsocket", filepath.Join(sock, "redis.sock"))
		spec.Health.Kind = healthRedis
		return nil
	case kindMySQL:
		return r.prepareMySQL(ctx, svc, dir, vol, sock, port, env, cred, spec)
	}
	return fmt.Errorf("unknown database kind %q", kind)
}

// runAs runs an initialisation command as the server's user and returns
// its output in the error when it fails.
func runAs(ctx context.Context, cred *credential, dir string, stdin []byte, argv ...string) error {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C", "LC_ALL=C"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred.sys()}
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		msg := strings.TrimSpace(string(out))
		if len(msg) > 2000 {
			msg = "..." + msg[len(msg)-2000:]
		}
		return fmt.Errorf("%s failed: %w\n%s", filepath.Base(argv[0]), err, msg)
	}
	return nil
}

// writeOwned writes a file only the server's user can read.
func writeOwned(path string, b []byte, cred *credential) error {
	if err := fsutil.WriteFile(path, b, 0o600); err != nil {
		return err
	}
	return chownTo(path, cred)
}

func (r *Runtime) preparePostgres(ctx context.Context, svc *stack.Service, dir, vol, sock, port string, env map[string]string, cred *credential, spec *shimSpec) error {
	bins, err := r.findBins([]string{"postgres"}, []string{"initdb"})
	if err != nil {
		return r.missing(kindPostgres, svc, "postgres and initdb")
	}
	postgres, initdb := bins[0], bins[1]
	pgUser := env["POSTGRES_USER"]
	if pgUser == "" {
		pgUser = "postgres"
	}
	db := env["POSTGRES_DB"]
	if db == "" {
		db = pgUser
	}
	auth := env["POSTGRES_HOST_AUTH_METHOD"]
	if auth == "" {
		auth = "scram-sha-256"
	}
	pw, err := secretOrEnv(env, "POSTGRES_PASSWORD")
	if err != nil {
		return err
	}
	if pw == "" && auth != "trust" {
		return fmt.Errorf("service %s: POSTGRES_PASSWORD is not set: set it (or POSTGRES_PASSWORD_FILE to a secret), or POSTGRES_HOST_AUTH_METHOD=trust for a passwordless development database", svc.Name)
	}
	data := filepath.Join(vol, "pgdata")
	if _, err := os.Stat(filepath.Join(data, "PG_VERSION")); err != nil {
		err := initialise(data, cred, func(tmp string) error {
			args := []string{initdb, "-D", tmp, "-U", pgUser, "-E", "UTF8", "--no-locale", "--auth-local=trust", "--auth-host=" + auth}
			if pw != "" {
				pwfile := filepath.Join(spec.RunDir, pwFile)
				if err := writeOwned(pwfile, []byte(pw+"\n"), cred); err != nil {
					return err
				}
				defer func() { _ = os.Remove(pwfile) }()
				args = append(args, "--pwfile="+pwfile)
			}
			args = append(args, strings.Fields(env["POSTGRES_INITDB_ARGS"])...)
			if err := runAs(ctx, cred, vol, nil, args...); err != nil {
				return err
			}
			if db == "postgres" {
				return nil
			}
			q := fmt.Sprintf("CREATE DATABASE %s OWNER %s\n", pgIdent(db), pgIdent(pgUser))
			if err := runAs(ctx, cred, vol, []byte(q), postgres, "--single", "-D", tmp, "postgres"); err != nil {
				return fmt.Errorf("create database %s: %w", db, err)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("initialise the database of service %s in %s: %w", svc.Name, data, err)
		}
	}
	spec.Argv = append([]string{postgres, "-D", data}, userArgs(svc, "postgres")...)
	spec.Argv = append(spec.Argv, "-c", "listen_addresses=127.0.0.1", "-p", port, "-k", sock)
	// SIGINT is postgres' fast shutdown (as the official image's STOPSIGNAL):
	// SIGTERM would wait for every client to disconnect.
	spec.StopSignal = int(syscall.SIGINT)
	// The client programs beside the server come first, so that pg_dump
	// and psql run in the replica's environment match the server's version.
	env["PATH"] = filepath.Dir(postgres) + string(os.PathListSeparator) + cmp.Or(env["PATH"], "/usr/sbin:/usr/bin:/sbin:/bin")
	env["PGHOST"], env["PGPORT"], env["PGUSER"], env["PGDATABASE"], env["PGDATA"] = sock, port, pgUser, db, data
	spec.Health.Kind = healthPostgres
	if ready := filepath.Join(filepath.Dir(postgres), "pg_isready"); executable(ready) == nil {
		spec.Health.Cmd = []string{ready, "-q", "-h", "127.0.0.1", "-p", port, "-U", pgUser, "-d", db}
	}
	return nil
}

func pgIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

func sqlString(s string) string {
	return "'" + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), "'", "''") + "'"
}

func sqlIdent(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }

func (r *Runtime) prepareMySQL(ctx context.Context, svc *stack.Service, dir, vol, sock, port string, env map[string]string, cred *credential, spec *shimSpec) error {
	bins, err := r.findBins([]string{"mariadbd", "mysqld"})
	if err != nil {
		return r.missing(kindMySQL, svc, "mariadbd or mysqld")
	}
	server := bins[0]
	rootPw, err := secretOrEnv(env, "MARIADB_ROOT_PASSWORD", "MYSQL_ROOT_PASSWORD")
	if err != nil {
		return err
	}
	allowEmpty := env["MARIADB_ALLOW_EMPTY_ROOT_PASSWORD"] != "" || env["MYSQL_ALLOW_EMPTY_PASSWORD"] != ""
	if rootPw == "" && !allowEmpty {
		return fmt.Errorf("service %s: MYSQL_ROOT_PASSWORD is not set: set it (or MYSQL_ROOT_PASSWORD_FILE to a secret), or MYSQL_ALLOW_EMPTY_PASSWORD=1 for a development database", svc.Name)
	}
	db := firstNonEmpty(env["MARIADB_DATABASE"], env["MYSQL_DATABASE"])
	dbUser := firstNonEmpty(env["MARIADB_USER"], env["MYSQL_USER"])
	userPw, err := secretOrEnv(env, "MARIADB_PASSWORD", "MYSQL_PASSWORD")
	if err != nil {
		return err
	}
	data := filepath.Join(vol, "data")
	if _, err := os.Stat(filepath.Join(data, "mysql")); err != nil {
		// The accounts are made by the init file below, at every start.
		err := initialise(data, cred, func(tmp string) error {
			if inst, ierr := r.findBins([]string{"mariadb-install-db", "mysql_install_db"}); ierr == nil {
				return runAs(ctx, cred, vol, nil, inst[0], "--no-defaults", "--datadir="+tmp, "--basedir=/usr")
			}
			return runAs(ctx, cred, vol, nil, server, "--no-defaults", "--initialize-insecure", "--datadir="+tmp)
		})
		if err != nil {
			return fmt.Errorf("initialise the database of service %s in %s: %w", svc.Name, data, err)
		}
	}
	// The init file runs at every server start, so it is idempotent; it
	// keeps the accounts in line with the stack's environment.
	var sql strings.Builder
	if rootPw != "" {
		fmt.Fprintf(&sql, "ALTER USER 'root'@'localhost' IDENTIFIED BY %s;\n", sqlString(rootPw))
		fmt.Fprintf(&sql, "CREATE USER IF NOT EXISTS 'root'@'%%' IDENTIFIED BY %s;\nGRANT ALL ON *.* TO 'root'@'%%' WITH GRANT OPTION;\n", sqlString(rootPw))
	}
	if db != "" {
		fmt.Fprintf(&sql, "CREATE DATABASE IF NOT EXISTS %s;\n", sqlIdent(db))
	}
	if dbUser != "" && dbUser != "root" {
		fmt.Fprintf(&sql, "CREATE USER IF NOT EXISTS %s@'%%' IDENTIFIED BY %s;\nALTER USER %s@'%%' IDENTIFIED BY %s;\n",
			sqlString(dbUser), sqlString(userPw), sqlString(dbUser), sqlString(userPw))
		if db != "" {
			fmt.Fprintf(&sql, "GRANT ALL ON %s.* TO %s@'%%';\n", sqlIdent(db), sqlString(dbUser))
		}
	}
	sql.WriteString("FLUSH PRIVILEGES;\n")
	// The init file holds the passwords: it lives in the memory-backed
	// run directory, not the data dir.
	initFile := filepath.Join(spec.RunDir, "init.sql")
	if err := writeOwned(initFile, []byte(sql.String()), cred); err != nil {
		return err
	}
	socket := filepath.Join(sock, "mysqld.sock")
	spec.Argv = append([]string{server, "--no-defaults", "--datadir=" + data, "--port=" + port, "--bind-address=127.0.0.1",
		"--socket=" + socket, "--pid-file=" + filepath.Join(dir, runDir, "mysqld.pid"), "--init-file=" + initFile, "--skip-name-resolve"},
		userArgs(svc, "mysqld", "mariadbd")...)
	env["MYSQL_UNIX_PORT"], env["MYSQL_TCP_PORT"] = socket, port
	spec.Health.Kind = healthMySQL
	return nil
}

func firstNonEmpty(v ...string) string {
	for _, s := range v {
		if s != "" {
			return s
		}
	}
	return ""
}

// pwFile is the name, in a replica's run directory, of the file that hands
// initdb the superuser password; it exists only while initdb runs.
const pwFile = ".pwfile"

// initSuffix names the directory a database is initialised in before it
// takes its final name.
const initSuffix = ".init"

// initialise makes a database's data directory atomically: steps fill a
// fresh directory data+".init" (owned by cred), which is renamed to data
// only once every step succeeded, and the rename is made durable. A crash
// at any point leaves no data directory, only a ".init" one that the next
// attempt removes, so initialisation is redone rather than a half-made
// database (no application database, no user) taken for a ready one.
func initialise(data string, cred *credential, steps func(tmp string) error) error {
	tmp := data + initSuffix
	if err := os.RemoveAll(tmp); err != nil {
		return fmt.Errorf("remove an interrupted initialisation: %w", err)
	}
	if err := os.Mkdir(tmp, 0o700); err != nil {
		return err
	}
	if err := chownTo(tmp, cred); err != nil {
		return err
	}
	if err := steps(tmp); err != nil {
		_ = os.RemoveAll(tmp)
		return err
	}
	// An empty data directory (made by hand, or by an older quai) gives way;
	// one with files is the user's to look at.
	if err := os.Remove(data); err != nil && !isNotExist(err) {
		_ = os.RemoveAll(tmp)
		return fmt.Errorf("%s holds files but no initialised database: move it away to initialise a new one: %w", data, err)
	}
	if err := os.Rename(tmp, data); err != nil {
		return err
	}
	return syncDir(filepath.Dir(data))
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer func() { _ = d.Close() }()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
