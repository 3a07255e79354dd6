package api

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"

	"github.com/quai-dev/quai/internal/auth"
	"github.com/quai-dev/quai/internal/stack"
	"github.com/quai-dev/quai/internal/wire"
)

// Uploads keeps the project folders remote clients upload for `up`, `plan`
// and `promote` (the daemon's DATA_DIR/uploads, one directory per org and
// content hash).
type Uploads interface {
	// Has reports whether the upload is there.
	Has(org, hash string) bool
	// Put unpacks the tar r (uncompressed) as the upload hash of org,
	// checking every entry and that its content has that hash; errors
	// wrapping upload.ErrUnsafe or upload.ErrTooLarge are the client's.
	Put(ctx context.Context, org, hash string, r io.Reader) (wire.UploadResult, error)
	// Dir is the directory of an upload; ok is false when there is none.
	Dir(org, hash string) (dir string, ok bool)
	// ClientError reports whether err from Put is the upload's fault.
	ClientError(err error) bool
}

// remoteKey marks a request that came over the network listener.
type remoteKey struct{}

// isRemote reports whether ctx is a request's from the network listener:
// its models carry paths of the client's machine, which mean nothing here.
func isRemote(ctx context.Context) bool { return ctx.Value(remoteKey{}) != nil }

var orgName = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// uploadTarget reads and checks the org and hash of an upload request.
func uploadTarget(r *http.Request) (org, hash string, err error) {
	hash = r.PathValue("hash")
	if !wire.ValidUploadHash(hash) {
		return "", "", badRequest(fmt.Sprintf("%q is not an upload's hash", hash), "an upload is named by the SHA-256 of its tar, 64 hex digits")
	}
	org = r.URL.Query().Get(wire.UploadOrg)
	if org == "" {
		org = stack.DefaultOrg
	}
	if !orgName.MatchString(org) {
		return "", "", badRequest(fmt.Sprintf("%q is not an organization's name", org), "")
	}
	return org, hash, nil
}

// uploadRequest checks an upload request: the daemon keeps uploads, and
// its org and hash are valid; on failure it has answered.
func (s *Server) uploadRequest(w http.ResponseWriter, r *http.Request) (u Uploads, org, hash string, ok bool) {
	if s.uploads == nil {
		writeError(w, &Error{Status: http.StatusNotImplemented, Code: wire.CodeUnsupported, Message: "this daemon keeps no uploads"})
		return nil, "", "", false
	}
	org, hash, err := uploadTarget(r)
	if err != nil {
		writeError(w, err)
		return nil, "", "", false
	}
	if !authorizeUpload(w, r, org) {
		return nil, "", "", false
	}
	return s.uploads, org, hash, true
}

func (s *Server) handleUploadHead(w http.ResponseWriter, r *http.Request) {
	u, org, hash, ok := s.uploadRequest(w, r)
	if !ok {
		return
	}
	if !u.Has(org, hash) {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (s *Server) handleUploadPut(w http.ResponseWriter, r *http.Request) {
	u, org, hash, ok := s.uploadRequest(w, r)
	if !ok {
		return
	}
	body := io.Reader(http.MaxBytesReader(w, r.Body, wire.MaxUploadBytes))
	if strings.EqualFold(r.Header.Get("Content-Encoding"), "gzip") {
		zr, err := gzip.NewReader(body)
		if err != nil {
			writeError(w, badRequest("the upload is not gzip: "+err.Error(), ""))
			return
		}
		defer func() { _ = zr.Close() }()
		body = zr
	}
	res, err := u.Put(r.Context(), org, hash, body)
	if err != nil {
		if u.ClientError(err) || errors.As(err, new(*http.MaxBytesError)) {
			writeError(w, &Error{Status: http.StatusBadRequest, Code: wire.CodeInvalid, Message: "upload refused: " + err.Error(),
				Hint: "the project folder is packed by `quai up`; .quaiignore leaves files out"})
			return
		}
		writeError(w, err)
		return
	}
	writeJSON(w, res)
}

// rebaseUpload points the model at its uploaded project folder. Over the
// network a model must come with one: its Dir is a path on the client.
func (s *Server) rebaseUpload(ctx context.Context, m *stack.Model, p wire.ModelPayload) error {
	if p.Upload == "" {
		if isRemote(ctx) {
			return badRequest("the request carries no project folder: over the network the daemon cannot read "+m.Dir,
				"use a quai CLI of the daemon's version, which uploads the folder")
		}
		return nil
	}
	if s.uploads == nil {
		return &Error{Status: http.StatusNotImplemented, Code: wire.CodeUnsupported, Message: "this daemon keeps no uploads"}
	}
	dir, ok := s.uploads.Dir(m.Identity.OrgOrDefault(), p.Upload)
	if !ok {
		return badRequest(fmt.Sprintf("no upload %s for organization %s", p.Upload, m.Identity.OrgOrDefault()),
			"upload the project folder first (PUT "+wire.Prefix+wire.UploadsPath+"/HASH); `quai up` does")
	}
	return m.Rebase(dir)
}

// authorizeUpload lets a member of anything inside org upload a project
// folder for it (uploads are per organization, not per instance: the up
// that uses one is authorized on its instance); an organization the
// principal has no grant in answers 404 like one that does not exist.
func authorizeUpload(w http.ResponseWriter, r *http.Request, org string) bool {
	p := auth.FromContext(r.Context())
	setTarget(r, "uploads:"+org, org)
	switch role := p.BestRoleIn(org); {
	case role < auth.RoleReader:
		writeError(w, orgNotFound(org))
	case role < auth.RoleMember || !p.ScopeAllows("upload"):
		writeError(w, forbidden(p, "upload", "organization "+org))
	default:
		return true
	}
	return false
}
