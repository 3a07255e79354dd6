package stack

import "testing"

func TestRebaseMovesPathsInsideTheProjectOnly(t *testing.T) {
	m := &Model{Dir: "/home/me/shop",
		Services: []*Service{{Name: "web",
			Build:   &Build{Context: "/home/me/shop/web"},
			Process: &Process{Dir: "/home/me/shop/web"},
			Mounts: []Mount{{Type: MountBind, Source: "/home/me/shop/conf/nginx.conf"}, {Type: MountBind, Source: "/srv/shared"},
				{Type: MountVolume, Source: "data"}},
		}, {Name: "worker", Process: &Process{Dir: "worker"}}},
		Secrets: []Secret{{Name: "key", File: "/home/me/shop/secrets/key"}},
	}
	if err := m.Rebase("/var/lib/quai/uploads/default/abc"); err != nil {
		t.Fatal(err)
	}
	web := m.Services[0]
	for _, c := range [][2]string{
		{m.Dir, "/var/lib/quai/uploads/default/abc"},
		{web.Build.Context, "/var/lib/quai/uploads/default/abc/web"},
		{web.Process.Dir, "/var/lib/quai/uploads/default/abc/web"},
		{web.Mounts[0].Source, "/var/lib/quai/uploads/default/abc/conf/nginx.conf"},
		{web.Mounts[1].Source, "/srv/shared"},
		{web.Mounts[2].Source, "data"},
		{m.Services[1].Process.Dir, "worker"},
		{m.Secrets[0].File, "/var/lib/quai/uploads/default/abc/secrets/key"},
	} {
		if c[0] != c[1] {
			t.Errorf("got %s, want %s", c[0], c[1])
		}
	}
	if err := m.Rebase("relative"); err == nil {
		t.Error("a relative directory was accepted")
	}
}
