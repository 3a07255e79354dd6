package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/quai-dev/quai/internal/api"
	"github.com/quai-dev/quai/internal/wire"
)

type links struct{}

func (links) LoginLink(context.Context) (wire.DashboardLink, error) {
	return wire.DashboardLink{URL: "http://127.0.0.1:7480/ui/login/link?code=x", Expires: time.Now().Add(time.Minute)}, nil
}

type anyone struct{}

func (anyone) Authenticate(r *http.Request) (context.Context, error) { return r.Context(), nil }

// TestDashboardLinkSocketOnly: the socket (root on the host) hands out
// dashboard login links; the network listener does not, even to a valid
// token.
func TestDashboardLinkSocketOnly(t *testing.T) {
	s := api.New(api.Options{Dashboard: links{}, Authn: anyone{}})
	post := func(h http.Handler) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, wire.Prefix+"/dashboard/link", nil))
		return rec
	}
	rec := post(s)
	var l wire.DashboardLink
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &l) != nil || l.URL == "" {
		t.Fatalf("socket: %d %s", rec.Code, rec.Body)
	}
	if rec := post(s.RemoteHandler()); rec.Code != http.StatusNotFound {
		t.Errorf("network listener: %d %s, want 404", rec.Code, rec.Body)
	}
	if rec := post(api.New(api.Options{})); rec.Code != http.StatusNotImplemented {
		t.Errorf("without a dashboard: %d, want 501", rec.Code)
	}
}
