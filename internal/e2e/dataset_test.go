package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"strconv"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/viewlog/viewlog/internal/kafkaio"
)

// networks is campaigns.csv of the original.
var networks = map[int]int{10: 1, 20: 1, 30: 1, 40: 2, 50: 2, 60: 3, 70: 3, 80: 3, 90: 3, 100: 4, 110: 4, 120: 4, 130: 4, 140: 4}

const campaignsCSV = `network_id,campaign_id,campaign_name
1,10,Campaign 10
1,20,Campaign 20
1,30,Campaign 30
2,40,Campaign 40
2,50,Campaign 50
3,60,Campaign 60
3,70,Campaign 70
3,80,Campaign 80
3,90,Campaign 90
4,100,Campaign 100
4,110,Campaign 110
4,120,Campaign 120
4,130,Campaign 130
4,140,Campaign 140
`

var base = time.Date(2024, 9, 11, 10, 0, 0, 0, time.UTC)

// expected is one output row as computed by the test.
type expected struct {
	sum, count int64
}

// dataset is a deterministic stream in phases, one per minute, to be
// produced in order: within a Kafka partition, records of minute m+1 come
// after those of minute m, which is what makes lateness deterministic.
type dataset struct {
	phases [][]message
	rows   map[string]expected // by outRow.key()
	// what the consumer must report
	read, aggregated, duplicate, late, unknown int64
	rejected                                   map[string]int64
}

func newDataset() *dataset {
	return &dataset{rows: map[string]expected{}, rejected: map[string]int64{}}
}

// view is a record as the test builds it; start and end are the instants,
// formatted into the record by format.
type view struct {
	id         string
	campaign   int
	start, end time.Time
}

// timestamp forms the consumer must accept, used in rotation.
var forms = []func(time.Time) string{
	func(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") },
	func(t time.Time) string { return t.In(time.FixedZone("", 2*3600)).Format("2006-01-02T15:04:05-07:00") },
	func(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05") },            // Python isoformat()
	func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05.000000") },     // space, microseconds
	func(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.999999999Z") }, // fractional, Z
}

func (v view) message(form int) message {
	b, _ := json.Marshal(map[string]any{
		"view_id":         v.id,
		"start_timestamp": forms[form%len(forms)](v.start),
		"end_timestamp":   forms[(form+1)%len(forms)](v.end),
		"banner_id":       form + 1,
		"campaign_id":     v.campaign,
	})
	return message{key: strconv.Itoa(v.campaign), value: string(b)}
}

// addMinute appends a phase with records of minute m for every campaign and
// records them as expected output. perCampaign scales the volume.
func (d *dataset) addMinute(m, perCampaign int) []view {
	var phase []message
	var views []view
	for i := 0; i < perCampaign+3; i++ {
		if i == 1 && m > 0 {
			// Out of order within the watermark delay: records of the
			// previous minute after this minute's first ones. They
			// count in the previous window, which is still open; a
			// partition's commit point then trails records of a
			// window that will be written before the next commit.
			for c := 10; c <= 140; c += 30 {
				end := base.Add(time.Duration(m)*time.Minute - 2*time.Second)
				v := view{id: fmt.Sprintf("m%d-c%d-i%d", m-1, c, 1_000_000+i), campaign: c, start: end.Add(-7 * time.Second), end: end}
				phase = append(phase, v.message(c))
				d.expect(v)
			}
		}
		for c := 10; c <= 140; c += 10 {
			k := 1 + (m+c/10)%4 + perCampaign - 1 // 1..4 records at perCampaign=1
			if i >= k {
				continue
			}
			// End times within the minute, increasing with i; a
			// fractional end is truncated to the second.
			end := base.Add(time.Duration(m)*time.Minute + time.Duration(5+(7*i)%50)*time.Second + time.Duration(i%3)*300*time.Millisecond)
			dur := time.Duration(1+(c+13*i+31*m)%300) * time.Second
			v := view{id: fmt.Sprintf("m%d-c%d-i%d", m, c, i), campaign: c, start: end.Add(-dur).Truncate(time.Second), end: end}
			phase = append(phase, v.message(i+m))
			views = append(views, v)
			d.expect(v)
		}
	}
	d.phases = append(d.phases, phase)
	return views
}

func (d *dataset) expect(v view) {
	d.expectIn(v, networks[v.campaign])
}

// expectIn is expect for a campaign of the given network.
func (d *dataset) expectIn(v view, network int) {
	key := fmt.Sprintf("%d/%s/%d", network, v.end.Truncate(time.Minute).Format("2006-01-02_15-04-05"), v.campaign)
	e := d.rows[key]
	e.count++
	e.sum += v.end.Unix() - v.start.Unix()
	d.rows[key] = e
	d.read++
	d.aggregated++
}

// appendTo adds raw messages to the last phase, counted under outcome.
func (d *dataset) appendTo(outcome string, msgs ...message) {
	last := len(d.phases) - 1
	d.phases[last] = append(d.phases[last], msgs...)
	n := int64(len(msgs))
	d.read += n
	switch outcome {
	case "duplicate":
		d.duplicate += n
	case "late":
		d.late += n
	case "unknown":
		d.unknown += n
	case "aggregated":
		d.aggregated += n
	default:
		d.rejected[outcome] += n
	}
}

// closers are records of one campaign at minute m, in a phase of their own.
// They move that campaign's partition's watermark past the end of minute
// m-1. The other partitions, which get no record after the data, are then
// idle, and their watermarks follow that one (the consumer runs with
// PARTITION_IDLE_TIMEOUT set), so all earlier windows close. Their own
// window stays open and is not part of the output.
func (d *dataset) closers(m int) {
	end := base.Add(time.Duration(m)*time.Minute + 15*time.Second)
	msg := view{id: fmt.Sprintf("closer-m%d-c%d", m, closerCampaign), campaign: closerCampaign, start: end.Add(-time.Second), end: end}.message(0)
	d.phases = append(d.phases, nil)
	d.appendTo("aggregated", msg)
}

// closerCampaign is the campaign of the closers.
const closerCampaign = 10

// keepAlive sends records of closerCampaign at minute m, every 200 ms,
// until the test ends: one campaign still running after the others have
// stopped. Its partition stays active, so the idle ones follow its event
// time and close their last windows; the records themselves fall in a
// window that stays open. Call it once every other record is produced:
// they would be late after these.
func keepAlive(t *testing.T, broker, topic string, m int) {
	t.Helper()
	client, err := kafkaio.NewClient(kafkaio.ClientConfig{Brokers: []string{broker}}, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	w := client.NewWriter(kafkaio.WriterConfig{Topic: topic, BatchSize: 1})
	t.Cleanup(func() {
		w.Close()
		client.Close()
	})
	keepAliveWith(t, m, func(msg message) error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return w.WriteMessages(ctx, kafka.Message{Key: []byte(msg.key), Value: []byte(msg.value)})
	})
}

// keepAliveWith is keepAlive with send writing each record.
func keepAliveWith(t *testing.T, m int, send func(message) error) {
	t.Helper()
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		end := base.Add(time.Duration(m)*time.Minute + 15*time.Second)
		for i := 0; ; i++ {
			msg := view{id: fmt.Sprintf("closer-m%d-c%d-h%d", m, closerCampaign, i), campaign: closerCampaign, start: end.Add(-time.Second), end: end}.message(0)
			_ = send(msg) // a miss is made up by the next
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
	// Registered after the caller's own cleanups, so it runs first.
	t.Cleanup(func() {
		close(stop)
		<-done
	})
}

// badRecords are one of each kind of rejection, plus an unknown campaign.
func (d *dataset) badRecords(tag string) {
	ts := base.Format(time.RFC3339)
	d.appendTo("invalid_json", message{"10", `{"view_id":"` + tag + `-broken",`})
	d.appendTo("missing_view_id", message{"10", `{"start_timestamp":"` + ts + `","end_timestamp":"` + ts + `","campaign_id":10}`})
	d.appendTo("missing_campaign_id", message{"10", `{"view_id":"` + tag + `-nc","start_timestamp":"` + ts + `","end_timestamp":"` + ts + `"}`})
	d.appendTo("wrong_type", message{"10", `{"view_id":"` + tag + `-wt","start_timestamp":"` + ts + `","end_timestamp":"` + ts + `","campaign_id":"10"}`})
	d.appendTo("invalid_campaign_id", message{"10", `{"view_id":"` + tag + `-neg","start_timestamp":"` + ts + `","end_timestamp":"` + ts + `","campaign_id":-10}`})
	d.appendTo("missing_timestamp", message{"10", `{"view_id":"` + tag + `-mt","end_timestamp":"` + ts + `","campaign_id":10}`})
	d.appendTo("invalid_timestamp", message{"10", `{"view_id":"` + tag + `-it","start_timestamp":"11/09/2024 10:00","end_timestamp":"` + ts + `","campaign_id":10}`})
	d.appendTo("timestamp_out_of_range", message{"10", `{"view_id":"` + tag + `-y1","start_timestamp":"0001-01-01T00:00:00Z","end_timestamp":"` + ts + `","campaign_id":10}`})
	d.appendTo("end_before_start", message{"10", `{"view_id":"` + tag + `-ebs","start_timestamp":"` + base.Add(time.Second).Format(time.RFC3339) + `","end_timestamp":"` + ts + `","campaign_id":10}`})
	d.appendTo("unknown", view{id: tag + "-unknown", campaign: 999, start: base, end: base.Add(time.Second)}.message(0))
}

// roundHalfUp2 rounds sum/count to two decimals, half away from zero, with
// exact rational arithmetic.
func roundHalfUp2(sum, count int64) float64 {
	r := new(big.Rat).SetFrac64(sum*100, count)
	r.Add(r, big.NewRat(1, 2))
	q := new(big.Int).Quo(r.Num(), r.Denom()) // floor for positive values
	f, _ := new(big.Rat).SetFrac(q, big.NewInt(100)).Float64()
	return f
}
