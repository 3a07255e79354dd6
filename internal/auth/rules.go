package auth

import (
	"fmt"
	"strings"
)

// Action is one thing a request does; every API endpoint names one.
type Action string

// Reach says what an action's target is, which decides how it is checked.
type Reach int

// Reaches.
const (
	// ReachInstance: one instance (or an organization's environment); a
	// target the principal cannot read answers 404 as if it did not exist.
	ReachInstance Reach = iota
	// ReachOrg: an organization's settings (backup repository, keys, users).
	ReachOrg
	// ReachList: a list, filtered to what the principal can read.
	ReachList
	// ReachSelf: about the caller (who am I, my tokens); any principal.
	ReachSelf
	// ReachHost: the host (image prune, system backup, alert channels):
	// the unix socket or an admin of every organization.
	ReachHost
)

var reachNames = [...]string{"instance", "organization", "list (filtered)", "self", "host"}

func (r Reach) String() string { return reachNames[r] }

// Rule is the minimum role an action needs and what it reaches.
type Rule struct {
	Action Action
	Role   Role
	Reach  Reach
	// Mutates marks the actions that change something (docs/teams.md);
	// the API audits every call but reads, refused ones included.
	Mutates bool
	// Doc says what the action is, for docs/teams.md.
	Doc string
}

// Rules is what each role may do: the one table the API checks and
// docs/teams.md shows (a test keeps the two equal).
var Rules = []Rule{
	// Reading.
	{Action: "info", Role: RoleReader, Reach: ReachSelf, Doc: "daemon version (host paths only for host admins)"},
	{Action: "whoami", Role: RoleReader, Reach: ReachSelf, Doc: "who the credentials belong to"},
	{Action: "ls", Role: RoleReader, Reach: ReachList, Doc: "list instances"},
	{Action: "status", Role: RoleReader, Reach: ReachInstance, Doc: "an instance's services and replicas"},
	{Action: "releases", Role: RoleReader, Reach: ReachInstance, Doc: "an instance's releases"},
	{Action: "logs", Role: RoleReader, Reach: ReachInstance, Doc: "read and follow logs"},
	{Action: "metrics", Role: RoleReader, Reach: ReachInstance, Doc: "metrics series and top"},
	{Action: "alerts", Role: RoleReader, Reach: ReachList, Doc: "active alerts and silences"},
	{Action: "volumes", Role: RoleReader, Reach: ReachList, Doc: "list volumes"},
	{Action: "backups", Role: RoleReader, Reach: ReachList, Doc: "list backups and drills"},
	{Action: "orgs", Role: RoleReader, Reach: ReachList, Doc: "list organizations"},
	{Action: "tokens", Role: RoleReader, Reach: ReachSelf, Doc: "list, create and revoke one's own tokens"},
	{Action: "password", Role: RoleReader, Reach: ReachSelf, Doc: "change one's own password"},
	{Action: "plan", Role: RoleMember, Reach: ReachInstance, Doc: "plan a deploy"},
	{Action: "upload", Role: RoleMember, Reach: ReachOrg, Mutates: true, Doc: "upload a project folder for a remote up (member of anything in the organization)"},

	// Operating.
	{Action: "up", Role: RoleMember, Reach: ReachInstance, Mutates: true, Doc: "deploy (quai up)"},
	{Action: "rollback", Role: RoleMember, Reach: ReachInstance, Mutates: true, Doc: "roll back to a release"},
	{Action: "promote", Role: RoleMember, Reach: ReachInstance, Mutates: true, Doc: "promote a release (the target's promotion rules still apply; the source must be readable)"},
	{Action: "restart", Role: RoleMember, Reach: ReachInstance, Mutates: true, Doc: "restart services"},
	{Action: "start", Role: RoleMember, Reach: ReachInstance, Mutates: true, Doc: "start a stopped instance"},
	{Action: "down", Role: RoleMember, Reach: ReachInstance, Mutates: true, Doc: "stop an instance, keeping it"},
	{Action: "exec", Role: RoleMember, Reach: ReachInstance, Mutates: true, Doc: "run a command in a service"},
	{Action: "backup", Role: RoleMember, Reach: ReachInstance, Mutates: true, Doc: "back up now"},
	{Action: "drill", Role: RoleMember, Reach: ReachInstance, Mutates: true, Doc: "restore drill into a throw-away instance"},
	{Action: "verify", Role: RoleMember, Reach: ReachInstance, Mutates: true, Doc: "re-read an instance's backups"},
	{Action: "clone", Role: RoleMember, Reach: ReachInstance, Mutates: true, Doc: "clone from backups into a new instance"},
	{Action: "secrets.set", Role: RoleMember, Reach: ReachInstance, Mutates: true, Doc: "seal values into a project's secrets file (org and env)"},
	{Action: "secrets.keys", Role: RoleMember, Reach: ReachInstance, Doc: "list public age recipients (org and env)"},
	{Action: "silence", Role: RoleMember, Reach: ReachInstance, Mutates: true, Doc: "silence and unsilence an instance's alerts"},
	{Action: "hooks", Role: RoleMember, Reach: ReachInstance, Mutates: true, Doc: "create, list and remove an instance's deploy hooks"},

	// Administering an organization.
	{Action: "rm", Role: RoleAdmin, Reach: ReachInstance, Mutates: true, Doc: "remove an instance (and purge its data)"},
	{Action: "volumes.rm", Role: RoleAdmin, Reach: ReachInstance, Mutates: true, Doc: "delete a removed instance's volumes"},
	{Action: "restore", Role: RoleAdmin, Reach: ReachInstance, Mutates: true, Doc: "restore a backup over an instance's data"},
	{Action: "backups.prune", Role: RoleAdmin, Reach: ReachInstance, Mutates: true, Doc: "apply backup retention"},
	{Action: "backups.forget", Role: RoleAdmin, Reach: ReachInstance, Mutates: true, Doc: "delete an instance's backups"},
	{Action: "backups.settings", Role: RoleAdmin, Reach: ReachOrg, Mutates: true, Doc: "an organization's backup repository and its key"},
	{Action: "secrets.admin", Role: RoleAdmin, Reach: ReachInstance, Mutates: true, Doc: "export, import and retire age keys (org and env)"},
	{Action: "users", Role: RoleAdmin, Reach: ReachOrg, Mutates: true, Doc: "users, their grants and tokens in the organization"},
	{Action: "audit", Role: RoleAdmin, Reach: ReachOrg, Doc: "read the organization's audit log"},

	// The host.
	{Action: "prune", Role: RoleAdmin, Reach: ReachHost, Mutates: true, Doc: "delete unused images"},
	{Action: "system.backup", Role: RoleAdmin, Reach: ReachHost, Mutates: true, Doc: "copy quai's own state"},
	{Action: "alerts.channels", Role: RoleAdmin, Reach: ReachHost, Mutates: true, Doc: "alert notification channels"},
	{Action: "orgs.add", Role: RoleAdmin, Reach: ReachHost, Mutates: true, Doc: "add organizations"},

	// Without a token: the request carries its own proof.
	{Action: "login", Role: RoleNone, Reach: ReachSelf, Mutates: true, Doc: "exchange a password for a token (throttled)"},
	{Action: "hook", Role: RoleNone, Reach: ReachSelf, Mutates: true, Doc: "a CI deploy hook, signed with its secret"},
}

// ActionGroups are names a token's scope may use for several actions.
var ActionGroups = map[string][]Action{
	// deploy is what CI needs to run `quai up` on its instance.
	"deploy": {"info", "whoami", "ls", "status", "releases", "plan", "upload", "up"},
	// promote is what CI needs to run `quai promote`.
	"promote": {"info", "whoami", "ls", "status", "releases", "plan", "upload", "promote"},
	"read":    {"info", "whoami", "ls", "status", "releases", "logs", "metrics", "alerts", "volumes", "backups", "orgs"},
}

var rulesByAction = func() map[Action]Rule {
	m := make(map[Action]Rule, len(Rules))
	for _, r := range Rules {
		if _, dup := m[r.Action]; dup {
			panic("auth: action " + string(r.Action) + " has two rules")
		}
		m[r.Action] = r
	}
	return m
}()

// RuleOf returns the rule of a; ok is false for an unknown action.
func RuleOf(a Action) (Rule, bool) {
	r, ok := rulesByAction[a]
	return r, ok
}

// CheckActions validates the actions of a token scope.
func CheckActions(names []string) error {
	for _, n := range names {
		if _, ok := ActionGroups[n]; ok {
			continue
		}
		if _, ok := rulesByAction[Action(n)]; !ok {
			return fmt.Errorf("%w: %q is not an action nor a group (groups: deploy, promote, read; actions: docs/teams.md)", ErrInvalid, n)
		}
	}
	return nil
}

// RolesTable renders Rules as the Markdown table of docs/teams.md.
func RolesTable() string {
	var b strings.Builder
	b.WriteString("| action | what it is | reader | member | admin | target |\n| --- | --- | --- | --- | --- | --- |\n")
	for _, r := range Rules {
		cells := [3]string{}
		for i, role := range []Role{RoleReader, RoleMember, RoleAdmin} {
			switch {
			case r.Role == RoleNone:
				cells[i] = "(no token)"
			case r.Reach == ReachHost:
				cells[i] = "—"
				if role == RoleAdmin {
					cells[i] = "admin of `*`"
				}
			case role >= r.Role:
				cells[i] = "yes"
			default:
				cells[i] = "—"
			}
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s | %s |\n", r.Action, r.Doc, cells[0], cells[1], cells[2], r.Reach)
	}
	return b.String()
}
