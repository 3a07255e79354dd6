package process

import (
	"fmt"
	"os"
	"os/user"
	"strconv"
	"strings"

	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/stack"
)

// appUser resolves a service's `user:` (name, uid, uid:gid, name:group) to
// the credential its app, health checks and exec commands run with. It
// returns nil when the service sets no user. A uid without a passwd entry
// gets the group of the same number rather than root's group, and / as
// HOME, as Docker gives it. Only a root daemon can switch users; any other
// daemon refuses the service rather than run it as the daemon's user.
func appUser(svc *stack.Service) (*credential, error) {
	spec := strings.TrimSpace(svc.User)
	if spec == "" {
		return nil, nil
	}
	name, group, hasGroup := strings.Cut(spec, ":")
	c := &credential{User: name, Home: "/"}
	if uid, err := strconv.ParseUint(name, 10, 32); err == nil {
		c.UID, c.GID = uint32(uid), uint32(uid)
		if u, err := user.LookupId(name); err == nil {
			if err := c.fill(u); err != nil {
				return nil, fmt.Errorf("service %s: user %q: %w", svc.Name, spec, err)
			}
		}
	} else {
		u, err := user.Lookup(name)
		if err != nil {
			return nil, fmt.Errorf("service %s: user %q does not exist on this host: create it (adduser --system %s), use a numeric uid, or deploy with the docker runtime", svc.Name, name, name)
		}
		if err := c.fill(u); err != nil {
			return nil, fmt.Errorf("service %s: user %q: %w", svc.Name, spec, err)
		}
	}
	if hasGroup {
		gid, err := lookupGroup(group)
		if err != nil {
			return nil, fmt.Errorf("service %s: user %q: %w", svc.Name, spec, err)
		}
		c.GID = gid
	}
	if euid := os.Geteuid(); euid != 0 && uint32(euid) != c.UID { //nolint:gosec // a uid fits in 32 bits
		return nil, fmt.Errorf("service %s sets user: %s, but the quai daemon runs as uid %d and only root can run an app as another user: start the daemon as root, remove user: from the service, or deploy with the docker runtime: %w",
			svc.Name, spec, euid, runtime.ErrUnsupported)
	}
	return c, nil
}

// fill takes the uid, primary group, home and supplementary groups of u.
func (c *credential) fill(u *user.User) error {
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return fmt.Errorf("user %s has a non-numeric uid or gid", u.Username)
	}
	c.User, c.UID, c.GID, c.Home = u.Username, uint32(uid), uint32(gid), u.HomeDir
	ids, err := u.GroupIds()
	if err != nil {
		return nil // no group database entry: the primary group alone
	}
	for _, id := range ids {
		if g, err := strconv.ParseUint(id, 10, 32); err == nil && uint32(g) != c.GID {
			c.Groups = append(c.Groups, uint32(g))
		}
	}
	return nil
}

func lookupGroup(group string) (uint32, error) {
	if gid, err := strconv.ParseUint(group, 10, 32); err == nil {
		return uint32(gid), nil
	}
	g, err := user.LookupGroup(group)
	if err != nil {
		return 0, fmt.Errorf("group %q does not exist on this host: create it (addgroup --system %s) or use a numeric gid", group, group)
	}
	gid, err := strconv.ParseUint(g.Gid, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("group %s has a non-numeric gid", group)
	}
	return uint32(gid), nil
}
