package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/quai-dev/quai/internal/client"
	"github.com/quai-dev/quai/internal/wire"
)

// A promotion deploys to the instance of another environment the images a
// release of this one ran, with the target's own stack, as `quai promote`
// does: the dashboard loads that stack from the folder the source instance
// was deployed from (on the daemon's host; sent to the API as an upload
// for a session that is not the host's administrator, as a remote CLI
// sends it), asks the API for the plan (a dry run), shows it, and on
// confirmation runs the promotion with the plan's fingerprint: a plan that
// changed in between is refused, not applied.

type promoteData struct {
	Source      string
	Target      string
	To          string
	Release     int
	Plan        string
	Fingerprint string
	Warnings    []string
}

// promoteRequest reads ?to=ENV and ?release=N (a form's fields) and
// prepares the promotion of instance name: the target's stack as a payload
// and the options.
func (h *Handler) promoteRequest(ctx context.Context, r *http.Request, s *session) (wire.ModelPayload, string, client.PromoteOptions, error) {
	name := r.PathValue("name")
	to := strings.TrimSpace(r.FormValue("to"))
	rel, _ := strconv.Atoi(r.FormValue("release"))
	st, err := s.api.Status(ctx, name)
	if err != nil {
		return wire.ModelPayload{}, "", client.PromoteOptions{}, err
	}
	if to == "" || to == st.Identity.Env {
		return wire.ModelPayload{}, "", client.PromoteOptions{}, badForm("name the environment to promote " + name + " to, other than " + st.Identity.Env)
	}
	if st.Dir == "" {
		return wire.ModelPayload{}, "", client.PromoteOptions{}, badForm("the daemon has no project folder recorded for " + name + ": promote it with the CLI (quai promote DIR --from " + st.Identity.Env + " --to " + to + ")")
	}
	if h.opts.Projects == nil {
		return wire.ModelPayload{}, "", client.PromoteOptions{}, badForm("this daemon's dashboard does not promote: use the CLI (quai promote DIR --from " + st.Identity.Env + " --to " + to + ")")
	}
	pr, err := h.opts.Projects.Target(ctx, st.Dir, to, st.Identity.Org)
	if err != nil {
		return wire.ModelPayload{}, "", client.PromoteOptions{}, badForm(fmt.Sprintf("the stack of %s for environment %s cannot be loaded: %v", st.Dir, to, err))
	}
	p := pr.Payload
	if !s.local {
		if p.Upload, err = h.uploadDir(ctx, s.api, pr.Org, pr.Dir); err != nil {
			return wire.ModelPayload{}, "", client.PromoteOptions{}, err
		}
	}
	return p, pr.Name, client.PromoteOptions{Source: st.Name, Release: rel}, nil
}

// formError is a request the form made wrong: 400 with its message.
type formError struct{ msg string }

func (e *formError) Error() string { return e.msg }

func badForm(msg string) error { return &formError{msg: msg} }

func (h *Handler) promoteFail(w http.ResponseWriter, r *http.Request, err error) {
	if fe := (*formError)(nil); errors.As(err, &fe) {
		h.fail(w, r, http.StatusBadRequest, fe.msg)
		return
	}
	h.apiFail(w, r, err)
}

// promoteConfirm shows the promotion's plan (the API's dry run) before the
// user confirms it.
func (h *Handler) promoteConfirm(w http.ResponseWriter, r *http.Request, s *session) {
	ctx := r.Context()
	payload, target, opts, err := h.promoteRequest(ctx, r, s)
	if err != nil {
		h.promoteFail(w, r, err)
		return
	}
	d := promoteData{Source: opts.Source, Target: target, To: r.FormValue("to"), Release: opts.Release}
	opts.DryRun = true
	if _, err := s.api.Promote(ctx, payload, target, opts, func(ev wire.Event) {
		switch ev.Kind {
		case wire.EventPlan:
			d.Plan = ev.Text
		case wire.EventWarning:
			d.Warnings = append(d.Warnings, ev.Message)
		}
	}); err != nil {
		h.apiFail(w, r, err)
		return
	}
	d.Fingerprint = wire.Plan{Text: d.Plan}.Fingerprint()
	h.render(w, r, http.StatusOK, "promote", s, d)
}

// promote runs the promotion the user confirmed: the API refuses it when
// the plan is no longer the one shown.
func (h *Handler) promote(w http.ResponseWriter, r *http.Request, s *session) {
	payload, target, opts, err := h.promoteRequest(r.Context(), r, s)
	if err != nil {
		h.promoteFail(w, r, err)
		return
	}
	opts.Fingerprint = r.PostFormValue("fingerprint")
	if opts.Fingerprint == "" {
		h.fail(w, r, http.StatusBadRequest, "the promotion's plan was not confirmed: open the promotion from the instance's page")
		return
	}
	h.start(w, r, s, opts.Source, "Promotion of "+opts.Source+" to "+target, func(ctx context.Context, emit wire.Emitter) error {
		_, err := s.api.Promote(ctx, payload, target, opts, emit)
		return err
	})
}

// uploadDir sends the project folder dir to the API as an upload of org
// (unless it has it already) and returns its hash, as a remote CLI does.
func (h *Handler) uploadDir(ctx context.Context, c *client.Client, org, dir string) (string, error) {
	hash, gz, done, err := h.opts.Projects.Pack(dir)
	if err != nil {
		return "", err
	}
	defer done()
	if has, err := c.HasUpload(ctx, org, hash); err != nil || has {
		return hash, err
	}
	if _, err := c.Upload(ctx, org, hash, gz); err != nil {
		return "", fmt.Errorf("upload the project folder %s: %w", dir, err)
	}
	return hash, nil
}
