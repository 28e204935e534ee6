package producer

import (
	"math/rand/v2"
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
}

// NewGenerator returns a generator drawing from rng.
func NewGenerator(rng *rand.Rand) *Generator { return &Generator{rng: rng} }

// View returns a view that ended at end (truncated to the second) and lasted
// 1 to 300 seconds. The end is the moment of sending: a view log is written
// when the view ends, and an end in the future, as the original generated,
// would push the watermark ahead of the data.
func (g *Generator) View(end time.Time) record.View {
	end = end.UTC().Truncate(time.Second)
	d := time.Duration(1+g.rng.IntN(300)) * time.Second
	var id uuid.UUID
	// A version 4 UUID from the generator's own source, so that a seeded
	// generator is reproducible.
	for i := 0; i < 16; i += 8 {
		v := g.rng.Uint64()
		for j := range 8 {
			id[i+j] = byte(v >> (8 * j))
		}
	}
	id[6] = id[6]&0x0f | 0x40
	id[8] = id[8]&0x3f | 0x80
	return record.View{
		ViewID:         []byte(id.String()),
		StartTimestamp: end.Add(-d),
		EndTimestamp:   end,
		BannerID:       1 + g.rng.Int64N(100000),
		CampaignID:     CampaignIDs[g.rng.IntN(len(CampaignIDs))],
	}
}
