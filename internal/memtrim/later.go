package memtrim

import (
	"context"
	"log/slog"
	"runtime/debug"
	"time"
)

// Later returns freed heap memory to the system and trims after delay, in
// the background, unless ctx ends first, and
// logs what it did (debug) or why it could not (warning: nothing is lost,
// the process only keeps more pages).
func Later(ctx context.Context, delay time.Duration, log *slog.Logger) {
	go func() {
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		// Start-up's garbage goes back too, at once rather than at the
		// scavenger's pace.
		debug.FreeOSMemory()
		res, err := Trim()
		if err != nil {
			log.Warn("could not give back the executable's start-up pages", "err", err)
			return
		}
		log.Debug("gave back the executable's start-up pages", "mappings", res.Mappings, "resident_kib", res.Bytes>>10)
	}()
}
