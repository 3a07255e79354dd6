package daemon

import (
	"sync"

	"github.com/quai-dev/quai/internal/wire"
)

// eventHub hands every engine event to the followers of GET
// /api/v1/events (the dashboard's activity page, whoever started the
// operation). Its zero value is ready.
type eventHub struct {
	mu   sync.Mutex
	next int
	subs map[int]wire.Emitter
}

// Subscribe implements api.EventFeed.
func (h *eventHub) Subscribe(fn wire.Emitter) func() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.subs == nil {
		h.subs = map[int]wire.Emitter{}
	}
	id := h.next
	h.next++
	h.subs[id] = fn
	return func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		delete(h.subs, id)
	}
}

// publish calls every follower; they do not block (api.EventFeed).
func (h *eventHub) publish(ev wire.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, fn := range h.subs {
		fn(ev)
	}
}
