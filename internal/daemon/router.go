package daemon

import (
	"context"

	"github.com/quai-dev/quai/internal/engine"
	"github.com/quai-dev/quai/internal/proxy"
)

// router adapts the proxy to engine.Router: the engine keeps its own copy
// of the route type so that it does not depend on the proxy's package.
type router struct{ p *proxy.Proxy }

var _ engine.Router = router{}

func (r router) SetRoutes(instance string, routes []engine.Route) error {
	out := make([]proxy.Route, len(routes))
	for i, rt := range routes {
		out[i] = proxy.Route(rt)
	}
	return r.p.SetRoutes(instance, out)
}

func (r router) RemoveInstance(instance string) { r.p.RemoveInstance(instance) }

func (r router) Drain(ctx context.Context, targets []string) error {
	return r.p.Drain(ctx, targets)
}
