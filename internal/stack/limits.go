package stack

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
)

// Limits bound what one stack may ask for, so that a typo or a hostile file
// (replicas: 1000000, a gigabyte "env file") cannot exhaust the machine. A
// zero field means: the value of its environment variable when set, else
// its default (DefaultLimits).
type Limits struct {
	// Replicas per service (x-quai.replicas, deploy.replicas, scale).
	Replicas int64
	// Services per stack.
	Services int64
	// StackFileBytes is the size of each stack file and overlay.
	StackFileBytes int64
	// EnvFileBytes is the size of each env file (.env, env_file, label_file).
	EnvFileBytes int64
	// FileBytes is the size of each secret, config and TLS file.
	FileBytes int64
}

// DefaultLimits are the limits of a load that sets none.
var DefaultLimits = Limits{Replicas: 100, Services: 200, StackFileBytes: 1 << 20, EnvFileBytes: 1 << 20, FileBytes: 1 << 20}

// ErrLimitSetting is returned when a limit's environment variable is not a
// positive integer.
var ErrLimitSetting = errors.New("invalid limit setting")

// limit describes one field of Limits: the variable that raises it and the
// words an error uses for it.
type limit struct {
	env   string
	what  string
	field func(*Limits) *int64
}

var (
	limitReplicas  = limit{"QUAI_MAX_REPLICAS", "replicas per service", func(l *Limits) *int64 { return &l.Replicas }}
	limitServices  = limit{"QUAI_MAX_SERVICES", "services per stack", func(l *Limits) *int64 { return &l.Services }}
	limitStackFile = limit{"QUAI_MAX_STACK_FILE_BYTES", "bytes per stack file", func(l *Limits) *int64 { return &l.StackFileBytes }}
	limitEnvFile   = limit{"QUAI_MAX_ENV_FILE_BYTES", "bytes per env file", func(l *Limits) *int64 { return &l.EnvFileBytes }}
	limitFile      = limit{"QUAI_MAX_FILE_BYTES", "bytes per secret, config or TLS file", func(l *Limits) *int64 { return &l.FileBytes }}
	allLimits      = []limit{limitReplicas, limitServices, limitStackFile, limitEnvFile, limitFile}
)

// resolve fills l's zero fields from the environment, else the defaults.
// This is the one place the limit variables are read.
func (l Limits) resolve() (Limits, error) {
	def := DefaultLimits
	for _, lim := range allLimits {
		v := lim.field(&l)
		if *v != 0 {
			continue
		}
		*v = *lim.field(&def)
		s, ok := os.LookupEnv(lim.env)
		if !ok || s == "" {
			continue
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n <= 0 {
			return l, fmt.Errorf("%w: %s=%q: set it to a positive integer (the limit of %s), or unset it for the default %d", ErrLimitSetting, lim.env, s, lim.what, *v)
		}
		*v = n
	}
	return l, nil
}

// over says that value exceeds the limit and how to raise it; "" when it
// does not.
func (l Limits) over(lim limit, value int64) (message, hint string) {
	limitValue := *lim.field(&l)
	if value <= limitValue {
		return "", ""
	}
	return fmt.Sprintf("%d is over the limit of %d %s", value, limitValue, lim.what),
		fmt.Sprintf("lower it, or raise the limit by setting %s=%d in the environment of quai and of its daemon", lim.env, value)
}

// readLimited reads a file of at most limitBytes; a larger file (or one
// that grows while read) gives ok false, read no further than one byte over.
func readLimited(path string, limitBytes int64) (b []byte, size int64, ok bool, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, false, err
	}
	defer func() { _ = f.Close() }() // read only: a close error loses nothing
	b, err = io.ReadAll(io.LimitReader(f, limitBytes+1))
	if err != nil {
		return nil, 0, false, err
	}
	if int64(len(b)) > limitBytes {
		size = int64(len(b))
		if fi, err := f.Stat(); err == nil {
			size = max(size, fi.Size())
		}
		return nil, size, false, nil
	}
	return b, int64(len(b)), true, nil
}

// ErrOverLimit is returned by CheckLimits for a model over a limit.
var ErrOverLimit = errors.New("over a limit")

// CheckLimits checks, as the daemon must for a model it did not load
// itself, the limits a model can break without its files: replicas per
// service and services per stack. Zero fields of l are resolved as in Load.
func (m *Model) CheckLimits(l Limits) error {
	l, err := l.resolve()
	if err != nil {
		return err
	}
	if msg, hint := l.over(limitServices, int64(len(m.Services))); msg != "" {
		return fmt.Errorf("%w: %s: %s (%s)", ErrOverLimit, m.Identity.Name(), msg, hint)
	}
	for _, s := range m.Services {
		if msg, hint := l.over(limitReplicas, int64(s.Replicas)); msg != "" {
			return fmt.Errorf("%w: %s: service %s: %s (%s)", ErrOverLimit, m.Identity.Name(), s.Name, msg, hint)
		}
	}
	return nil
}
