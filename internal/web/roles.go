package web

import (
	"strings"

	"github.com/quai-dev/quai/internal/wire"
)

// canOperate reports whether the session's grants allow changing the
// instance of identity id (rollback, backup, restore, silence): a role of
// member or admin on its organization, narrowed or not to its project and
// environment. It only decides which buttons show: the API checks every
// action again. A session whose grants are unknown (a daemon without
// users and roles, or the local administrator) sees every button.
func (s *session) canOperate(id wire.Identity) bool {
	if s.local || s.grants == nil {
		return true
	}
	for _, g := range s.grants {
		role, path, ok := strings.Cut(strings.TrimSpace(g), " ")
		if !ok || (role != "member" && role != "admin") {
			continue
		}
		if grantCovers(path, id) {
			return true
		}
	}
	return false
}

// grantCovers matches a grant's path "ORG[/PROJECT][:ENV]" ("*" for any
// org) against an instance's identity.
func grantCovers(path string, id wire.Identity) bool {
	path, env, hasEnv := strings.Cut(path, ":")
	org, project, hasProject := strings.Cut(path, "/")
	if org != "*" && org != id.Org {
		return false
	}
	if hasProject && project != "*" && project != id.Project {
		return false
	}
	return !hasEnv || env == "*" || env == id.Env
}
