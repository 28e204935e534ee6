package consumer

import (
	"fmt"
	"io/fs"
	"os"
	"slices"
	"sync/atomic"
	"time"

	"github.com/viewlog/viewlog/internal/campaigns"
)

// Campaign table reloads. Campaigns are added every day; the consumer takes
// additions to campaigns.csv while it runs, checking the file once an
// interval between batches. A file that changes or removes a campaign, or
// does not parse, is rejected with the reason and the table in use is kept.
//
// A replay must classify every record as the first pass did: a record
// dead-lettered as unknown must never be aggregated on replay. So each
// partition's checkpoint carries the ids the partition knew at its
// processed offset and, for each reload, the offset from which the added
// campaigns apply; records replayed below that offset do not know them.

// Tables is the consumer's campaign table and its reloads. The batch loop
// owns it (one generation runs at a time); Info may be called from any
// goroutine.
type Tables struct {
	path    string
	now     func() time.Time
	current *campaigns.Table
	// encoded is current's ids as checkpoints carry them; empty when the
	// table is too large for offset metadata.
	encoded string
	version int
	stamp   fileStamp
	info    atomic.Pointer[CampaignsInfo]
	// onReload is told about every reload attempt.
	onReload func(accepted bool)
}

// fileStamp says whether a file may have changed since it was read.
type fileStamp struct {
	mod  time.Time
	size int64
}

func stampOf(fi fs.FileInfo) fileStamp { return fileStamp{fi.ModTime(), fi.Size()} }

// maxEncodedCampaigns bounds the id set a checkpoint carries: Kafka limits
// offset metadata to 4096 bytes by default. A larger table is not carried;
// a replay then knows only the reloads' offsets (see partition.known).
const maxEncodedCampaigns = 2500

// NewTables returns the campaign table t, read from path (re-read for
// additions while the consumer runs; an empty path turns that off). now is
// the clock.
func NewTables(path string, t *campaigns.Table, now func() time.Time) *Tables {
	ts := &Tables{path: path, now: now}
	if fi, err := os.Stat(path); err == nil {
		ts.stamp = stampOf(fi)
	}
	ts.install(t, now())
	return ts
}

func (ts *Tables) install(t *campaigns.Table, at time.Time) {
	ts.current = t
	ts.version++
	ts.encoded = campaigns.EncodeIDs(t.IDs())
	if len(ts.encoded) > maxEncodedCampaigns {
		ts.encoded = ""
	}
	info := CampaignsInfo{Version: ts.version, Count: t.Len(), LoadedAt: at.UTC()}
	if prev := ts.info.Load(); prev != nil {
		info.Rejected, info.RejectedAt = prev.Rejected, prev.RejectedAt
	}
	ts.info.Store(&info)
}

// Info describes the table in use, for /api/state.
func (ts *Tables) Info() CampaignsInfo {
	if i := ts.info.Load(); i != nil {
		return *i
	}
	return CampaignsInfo{}
}

// reload reads the file again if it changed, and returns the campaigns it
// adds, or nil. A file that cannot be taken is reported in Info and err,
// and the table in use is kept.
func (ts *Tables) reload() (added []campaigns.Campaign, err error) {
	if ts.path == "" {
		return nil, nil
	}
	fi, err := os.Stat(ts.path)
	if err != nil {
		return nil, ts.reject(fileStamp{}, fmt.Errorf("campaigns.csv: %w", err))
	}
	stamp := stampOf(fi)
	if stamp == ts.stamp {
		return nil, nil
	}
	next, err := campaigns.LoadFile(ts.path)
	if err == nil {
		added, err = campaigns.Additions(ts.current, next)
	}
	if err != nil {
		return nil, ts.reject(stamp, err)
	}
	ts.stamp = stamp
	if len(added) == 0 {
		return nil, nil
	}
	ts.install(next, ts.now())
	if ts.onReload != nil {
		ts.onReload(true)
	}
	return added, nil
}

// reject keeps the table in use and reports why the file was not taken,
// once per version of the file.
func (ts *Tables) reject(stamp fileStamp, err error) error {
	if stamp == ts.stamp && stamp != (fileStamp{}) {
		return nil
	}
	ts.stamp = stamp
	info := ts.Info()
	info.Rejected, info.RejectedAt = err.Error(), ts.now().UTC()
	ts.info.Store(&info)
	if ts.onReload != nil {
		ts.onReload(false)
	}
	return err
}

// addition is campaigns added by a reload, applying from offset From of a
// partition on.
type addition struct {
	From int64
	// IDs is the added ids, encoded with campaigns.EncodeIDs.
	IDs string
	ids []int32
}

func (a *addition) has(c int32) bool {
	if a.ids == nil && a.IDs != "" {
		a.ids, _ = campaigns.DecodeIDs(a.IDs)
	}
	_, ok := slices.BinarySearch(a.ids, c)
	return ok
}

// replayRules classify the records a partition replays, below the
// processed offset of the checkpoint it resumed from, as the first pass
// did.
type replayRules struct {
	until int64
	// known is the set of campaigns the first pass knew at until; nil
	// when the checkpoint did not carry it (a table too large, or the
	// previous version's checkpoint): the table in use stands in.
	known map[int32]bool
	adds  []addition
}

func newReplayRules(cp checkpoint) (*replayRules, error) {
	r := &replayRules{until: cp.Processed, adds: cp.Additions}
	if cp.Campaigns != "" {
		ids, err := campaigns.DecodeIDs(cp.Campaigns)
		if err != nil {
			return nil, err
		}
		r.known = make(map[int32]bool, len(ids))
		for _, id := range ids {
			r.known[id] = true
		}
	}
	return r, nil
}

// known reports whether campaign c of the record at offset is known: for a
// replayed record, as it was the first pass; for a new one, by the table in
// use (a reload applies from the partition's next offset on, so every
// record read after it is new to it).
func (p *partition) known(offset int64, c int32, t *campaigns.Table) bool {
	if r := p.replay; r != nil && offset < r.until {
		if r.known != nil {
			if !r.known[c] {
				return false
			}
		} else if _, ok := t.Lookup(c); !ok {
			return false
		}
		for i := range r.adds {
			if r.adds[i].From > offset && r.adds[i].has(c) {
				return false
			}
		}
		return true
	}
	_, ok := t.Lookup(c)
	return ok
}

// additionsAbove are the reloads a checkpoint at offset must carry: those a
// replay from offset would meet.
func (p *partition) additionsAbove(offset int64) []addition {
	var out []addition
	if p.replay != nil {
		for _, a := range p.replay.adds {
			if a.From > offset {
				out = append(out, a)
			}
		}
	}
	for _, a := range p.adds {
		if a.From > offset {
			out = append(out, a)
		}
	}
	return out
}
