package e2etest

import (
	"sync"
	"sync/atomic"
	"time"
)

// Bounds of a load run, whatever stops it first: a load test never runs
// unbounded.
const (
	LoadMaxRequests = 500_000
	LoadMaxDuration = 15 * time.Minute
)

// Load sends requests through the proxy from several workers until
// stopped: each worker alternates fetching a user from the API and the
// frontend's page, so that both services are exercised while they are
// replaced.
type Load struct {
	done   chan struct{}
	wg     sync.WaitGroup
	ok     atomic.Int64
	failed atomic.Int64
	mu     sync.Mutex
	errs   []string
}

// StartLoad starts workers that request u and the page from s.
func StartLoad(s *Site, u User, workers int) *Load {
	l := &Load{done: make(chan struct{})}
	deadline := time.Now().Add(LoadMaxDuration)
	for w := range workers {
		l.wg.Go(func() {
			for i := w; time.Now().Before(deadline) && l.ok.Load()+l.failed.Load() < LoadMaxRequests; i++ {
				select {
				case <-l.done:
					return
				default:
				}
				var err error
				if i%2 == 0 {
					err = s.GetUser(u)
				} else {
					err = s.Page()
				}
				if err != nil {
					l.failed.Add(1)
					l.mu.Lock()
					if len(l.errs) < 5 {
						l.errs = append(l.errs, err.Error())
					}
					l.mu.Unlock()
					continue
				}
				l.ok.Add(1)
			}
		})
	}
	return l
}

// Stop stops the workers and returns how many requests succeeded and
// failed, with the first few errors.
func (l *Load) Stop() (ok, failed int64, errs []string) {
	close(l.done)
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ok.Load(), l.failed.Load(), l.errs
}
