package process

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Restart modes, as in Compose's `restart`.
const (
	restartNo            = "no"
	restartAlways        = "always"
	restartOnFailure     = "on-failure"
	restartUnlessStopped = "unless-stopped"
)

// DefaultRestart is the policy of services that set no `restart`. Unlike
// Docker (whose default is "no"), the process runtime restarts a replica
// that fails (non-zero exit or killed by a signal) and leaves one that exits
// with status 0 alone: a hosting platform should bring back a crashed app,
// and a command that finishes successfully is done.
const DefaultRestart = restartOnFailure

// restartPolicy decides whether the supervisor restarts an exited app.
// "always" and "unless-stopped" behave the same here: a supervisor lives
// until it is stopped, and a stop is never undone by a restart policy; the
// difference Docker makes (what happens when its daemon starts) does not
// arise because supervisors outlive the quai daemon.
type restartPolicy struct {
	Mode string `json:"mode"`
	// MaxRetries bounds restarts for on-failure:N; 0 means unbounded.
	MaxRetries int `json:"max_retries,omitempty"`
}

func parseRestart(s string) (restartPolicy, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return restartPolicy{Mode: DefaultRestart}, nil
	}
	mode, arg, hasArg := strings.Cut(s, ":")
	switch mode {
	case restartNo, restartAlways, restartUnlessStopped:
		if hasArg {
			return restartPolicy{}, fmt.Errorf("restart policy %q takes no argument: use %q", s, mode)
		}
		return restartPolicy{Mode: mode}, nil
	case restartOnFailure:
		p := restartPolicy{Mode: mode}
		if hasArg {
			n, err := strconv.Atoi(arg)
			if err != nil || n < 0 {
				return restartPolicy{}, fmt.Errorf("restart policy %q: the retry count must be a non-negative integer, e.g. on-failure:5", s)
			}
			p.MaxRetries = n
		}
		return p, nil
	}
	return restartPolicy{}, fmt.Errorf("unknown restart policy %q: use no, always, on-failure[:N] or unless-stopped", s)
}

// shouldRestart reports whether an app that exited with code (128+signal
// when killed by a signal) is started again after restarts restarts.
func (p restartPolicy) shouldRestart(code, restarts int) bool {
	switch p.Mode {
	case restartAlways, restartUnlessStopped:
		return true
	case restartOnFailure:
		return code != 0 && (p.MaxRetries == 0 || restarts < p.MaxRetries)
	}
	return false
}

// stableRun is how long an app must have run for its next crash to restart
// it after the shortest backoff again.
const stableRun = 10 * time.Second

// nextBackoff doubles the previous delay, capped at max; an app that ran
// for stableRun starts over from min.
func nextBackoff(prev, minD, maxD, ran time.Duration) time.Duration {
	if prev == 0 || ran >= stableRun {
		return minD
	}
	next := prev * 2
	if next > maxD {
		next = maxD
	}
	return next
}
