package producer

import (
	"encoding/binary"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/viewlog/viewlog/internal/record"
)

// CampaignIDs are the campaigns the simulated views belong to: 10, 20, ..., 140.
var CampaignIDs = func() []int32 {
	ids := make([]int32, 14)
	for i := range ids {
		ids[i] = int32(10 * (i + 1))
	}
	return ids
}()

// Generator makes simulated views. It is not safe for concurrent use.
type Generator struct {
	rng *rand.Rand
	// keys are the campaign ids in decimal, the records' keys, made once:
	// the writer only reads them, so every record of a campaign shares one.
	keys       [][]byte
	start, end stamper
}

// NewGenerator returns a generator drawing from rng.
func NewGenerator(rng *rand.Rand) *Generator {
	keys := make([][]byte, len(CampaignIDs))
	for i, id := range CampaignIDs {
		keys[i] = strconv.AppendInt(nil, int64(id), 10)
	}
	return &Generator{rng: rng, keys: keys}
}

// draw is what makes one view, taken from the generator's source in a fixed
// order, so that View and Append make the same views from the same seed.
type draw struct {
	id       [16]byte
	duration int64 // seconds
	bannerID int64
	campaign int // index into CampaignIDs
}

func (g *Generator) next() draw {
	var d draw
	d.duration = int64(1 + g.rng.IntN(300))
	// A version 4 UUID from the generator's own source, so that a seeded
	// generator is reproducible, and cheap: crypto/rand per record would
	// cost more than the rest of the record together.
	binary.LittleEndian.PutUint64(d.id[:8], g.rng.Uint64())
	binary.LittleEndian.PutUint64(d.id[8:], g.rng.Uint64())
	d.id[6] = d.id[6]&0x0f | 0x40
	d.id[8] = d.id[8]&0x3f | 0x80
	d.bannerID = 1 + g.rng.Int64N(100000)
	d.campaign = g.rng.IntN(len(CampaignIDs))
	return d
}

// View returns a view that ended at end (truncated to the second) and lasted
// 1 to 300 seconds. The end is the moment of sending: a view log is written
// when the view ends, and an end in the future, as the original generated,
// would push the watermark ahead of the data.
func (g *Generator) View(end time.Time) record.View {
	end = end.UTC().Truncate(time.Second)
	d := g.next()
	return record.View{
		ViewID:         []byte(uuid.UUID(d.id).String()),
		UUID:           d.id,
		HasUUID:        true,
		StartTimestamp: end.Add(-time.Duration(d.duration) * time.Second),
		EndTimestamp:   end,
		BannerID:       d.bannerID,
		CampaignID:     CampaignIDs[d.campaign],
	}
}

// Append appends the next view's record, as record.Marshal(g.View(end))
// would encode it, to dst, without allocating beyond dst's growth. It
// returns the extended dst and the record's key, the campaign id in decimal;
// the key is shared between records and must not be modified.
func (g *Generator) Append(dst []byte, end time.Time) ([]byte, []byte) {
	d := g.next()
	e := end.Unix() // whole seconds, as View's truncation
	dst = appendView(dst, &g.start, &g.end, &d.id, e-d.duration, e, d.bannerID, g.keys[d.campaign])
	return dst, g.keys[d.campaign]
}
