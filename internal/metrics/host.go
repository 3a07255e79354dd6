package metrics

import (
	"fmt"
	"slices"

	"github.com/shirou/gopsutil/v4/cpu"
	"github.com/shirou/gopsutil/v4/disk"
	"github.com/shirou/gopsutil/v4/load"
	"github.com/shirou/gopsutil/v4/mem"
)

// HostStats are the host's figures at a tick.
type HostStats struct {
	CPUPercent              float64
	MemoryUsed, MemoryTotal uint64
	Load1, Load5, Load15    float64
	Disks                   []DiskStats
}

// DiskStats is the file system holding one of Options.DiskPaths.
type DiskStats struct {
	Path        string
	Used, Total uint64
}

// hostCPU is the host's cumulative CPU times at the last tick.
type hostCPU struct{ busy, total float64 }

// hostStats reads the host's figures; the CPU figure is the busy share
// since the previous call (0 on the first). Failures leave fields zero.
func (c *Collector) hostStats() HostStats {
	var h HostStats
	if ts, err := cpu.Times(false); err == nil && len(ts) == 1 {
		t := ts[0]
		total := t.User + t.System + t.Idle + t.Nice + t.Iowait + t.Irq + t.Softirq + t.Steal
		busy := total - t.Idle - t.Iowait
		c.mu.Lock()
		prev := c.prevHost
		c.prevHost = hostCPU{busy, total}
		c.mu.Unlock()
		if dt := total - prev.total; prev.total > 0 && dt > 0 {
			h.CPUPercent = 100 * (busy - prev.busy) / dt
		}
	}
	if vm, err := mem.VirtualMemory(); err == nil {
		h.MemoryUsed, h.MemoryTotal = vm.Total-vm.Available, vm.Total
	}
	if l, err := load.Avg(); err == nil {
		h.Load1, h.Load5, h.Load15 = l.Load1, l.Load5, l.Load15
	}
	h.Disks = diskStats(c.opts.DiskPaths)
	return h
}

// diskStats reports each distinct file system among paths once.
func diskStats(paths []string) []DiskStats {
	var out []DiskStats
	var seen []string
	for _, p := range paths {
		u, err := disk.Usage(p)
		if err != nil || u.Total == 0 {
			continue
		}
		id := fmt.Sprint(u.Fstype, u.Total, u.Used, u.InodesTotal)
		if slices.Contains(seen, id) {
			continue
		}
		seen = append(seen, id)
		out = append(out, DiskStats{Path: p, Used: u.Used, Total: u.Total})
	}
	return out
}
