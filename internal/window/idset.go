package window

import (
	"hash/maphash"

	"github.com/viewlog/viewlog/internal/record"
)

// ID is a view_id as the duplicate check compares it. Canonical UUIDs, which
// is what the producer writes, are kept as 16 bytes instead of a 36-byte
// string plus header: at a million views in a window that is the difference
// between about 40 and 100 MB, and a set of them holds no pointer for the
// garbage collector to scan. Any other id is kept as its string, so two ids
// are the same only if their bytes are.
type ID struct {
	uuid [16]byte
	// other is the id when it is not a canonical UUID. view_ids are never
	// empty (the decoder rejects an empty one), so "" means uuid is set.
	other string
}

// IDOf returns the ID of a decoded view. It copies what it keeps.
func IDOf(v *record.View) ID {
	if v.HasUUID {
		return ID{uuid: v.UUID}
	}
	return ID{other: string(v.ViewID)}
}

// idSet holds the view_ids counted in one window.
type idSet struct {
	uuids uuidSet
	other map[string]struct{}
}

// add inserts id and reports whether it was new.
func (s *idSet) add(id *ID) bool {
	if id.other == "" {
		return s.uuids.add(id.uuid)
	}
	if s.other == nil {
		s.other = make(map[string]struct{})
	}
	n := len(s.other)
	s.other[id.other] = struct{}{}
	return len(s.other) > n
}

// uuidSet is a set of 16-byte UUIDs: open addressing with linear probing in
// one flat array. It exists because the duplicate check is the costliest
// step per record, and its cost is cache misses: a window holds tens of
// thousands of random ids, so nearly every insert misses the cache. A Go
// map touches a group's control word and then its slot, two misses; here
// an insert touches the one slot it probes (neighbours share its cache
// line). The hash is maphash with a per-set random seed, so ids crafted to
// collide cannot be chosen in advance.
type uuidSet struct {
	seed  maphash.Seed
	slots [][16]byte // a power of two long; the zero value marks a free slot
	n     int        // ids in slots
	zero  bool       // holds the all-zero UUID, which cannot go in slots
}

// uuidSetMinSlots is the size of a new set's table.
const uuidSetMinSlots = 1 << 10

func (s *uuidSet) add(u [16]byte) bool {
	if u == ([16]byte{}) {
		added := !s.zero
		s.zero = true
		return added
	}
	if 4*(s.n+1) > 3*len(s.slots) {
		s.grow()
	}
	mask := uint64(len(s.slots) - 1)
	for i := maphash.Comparable(s.seed, u) & mask; ; i = (i + 1) & mask {
		k := &s.slots[i]
		if *k == u {
			return false
		}
		if *k == ([16]byte{}) {
			*k = u
			s.n++
			return true
		}
	}
}

func (s *uuidSet) grow() {
	old := s.slots
	if old == nil {
		s.seed = maphash.MakeSeed()
	}
	s.slots = make([][16]byte, max(2*len(old), uuidSetMinSlots))
	mask := uint64(len(s.slots) - 1)
	for _, u := range old {
		if u == ([16]byte{}) {
			continue
		}
		i := maphash.Comparable(s.seed, u) & mask
		for s.slots[i] != ([16]byte{}) {
			i = (i + 1) & mask
		}
		s.slots[i] = u
	}
}

// reset empties the set and keeps its table, for the next window.
func (s *uuidSet) reset() {
	clear(s.slots)
	s.n, s.zero = 0, false
}

// accumulators are one window's sums per campaign. A window holds a
// handful of campaigns, so a short list scanned in order beats a map; past
// a few dozen the index map takes over the search.
type accumulators struct {
	list  []accumulator
	index map[int32]int
}

type accumulator struct {
	campaign   int32
	sum, count int64
}

// listScanMax is how many campaigns a window holds before it indexes them.
const listScanMax = 32

func (a *accumulators) add(campaign int32, duration int64) {
	i := -1
	if a.index != nil {
		if j, ok := a.index[campaign]; ok {
			i = j
		}
	} else {
		for j := range a.list {
			if a.list[j].campaign == campaign {
				i = j
				break
			}
		}
	}
	if i < 0 {
		i = len(a.list)
		a.list = append(a.list, accumulator{campaign: campaign})
		if a.index != nil {
			a.index[campaign] = i
		} else if len(a.list) > listScanMax {
			a.index = make(map[int32]int, 2*len(a.list))
			for j, acc := range a.list {
				a.index[acc.campaign] = j
			}
		}
	}
	a.list[i].sum += duration
	a.list[i].count++
}
