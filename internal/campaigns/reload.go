package campaigns

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Additions returns the campaigns of next that old does not have, by id. A
// table that changes or removes a campaign of old is an error naming them:
// rows already written put each campaign's views under its network's
// directory, and a change would move the next ones elsewhere, so changes
// and removals take a restart.
func Additions(old, next *Table) ([]Campaign, error) {
	var changed, removed []string
	for id, c := range old.byID {
		n, ok := next.byID[id]
		switch {
		case !ok:
			removed = append(removed, fmt.Sprint(id))
		case n != c:
			changed = append(changed, fmt.Sprintf("%d (network %d %q, was network %d %q)", id, n.NetworkID, n.Name, c.NetworkID, c.Name))
		}
	}
	if len(changed)+len(removed) > 0 {
		slices.Sort(removed)
		slices.Sort(changed)
		var parts []string
		if len(removed) > 0 {
			parts = append(parts, "removes campaign "+strings.Join(removed, ", "))
		}
		if len(changed) > 0 {
			parts = append(parts, "changes campaign "+strings.Join(changed, ", "))
		}
		return nil, errors.New(strings.Join(parts, "; ") + ": only additions are taken while the consumer runs; changes and removals need a restart")
	}
	var added []Campaign
	for id, c := range next.byID {
		if _, ok := old.byID[id]; !ok {
			added = append(added, c)
		}
	}
	slices.SortFunc(added, func(a, b Campaign) int { return int(a.CampaignID) - int(b.CampaignID) })
	return added, nil
}

// IDs returns the table's campaign ids, ascending.
func (t *Table) IDs() []int32 {
	ids := make([]int32, 0, len(t.byID))
	for id := range t.byID {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// EncodeIDs writes ascending positive ids compactly, as base64 of the
// varint gaps between them: a table of a thousand campaigns numbered
// closely takes about 1.4 kB. Checkpoints carry such sets.
func EncodeIDs(ids []int32) string {
	var b []byte
	prev := int32(0)
	for _, id := range ids {
		b = binary.AppendUvarint(b, uint64(id-prev))
		prev = id
	}
	return base64.RawStdEncoding.EncodeToString(b)
}

// DecodeIDs reads what EncodeIDs wrote.
func DecodeIDs(s string) ([]int32, error) {
	b, err := base64.RawStdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("campaign ids: %w", err)
	}
	var ids []int32
	prev := int64(0)
	for len(b) > 0 {
		gap, n := binary.Uvarint(b)
		if n <= 0 || gap == 0 || prev+int64(gap) > 1<<31-1 {
			return nil, errors.New("campaign ids: not an ascending list of positive 32-bit ids")
		}
		prev += int64(gap)
		ids = append(ids, int32(prev))
		b = b[n:]
	}
	return ids, nil
}
