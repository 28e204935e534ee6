package record

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// The tests in this file hold Decode and ParseTimestamp to their reference
// implementations (reference_test.go) on every input: same View and Reason,
// same instant and the same error.

const (
	tsStart = "2024-09-11T10:05:00Z"
	tsEnd   = "2024-09-11T10:06:00Z"
)

// recordWith is a record of the producer's shape with the given raw JSON
// values; an empty value leaves the key out.
func recordWith(viewID, start, end, campaign string) string {
	var parts []string
	if viewID != "" {
		parts = append(parts, `"view_id":`+viewID)
	}
	if start != "" {
		parts = append(parts, `"start_timestamp":`+start)
	}
	if end != "" {
		parts = append(parts, `"end_timestamp":`+end)
	}
	parts = append(parts, `"banner_id":7`)
	if campaign != "" {
		parts = append(parts, `"campaign_id":`+campaign)
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// validRecord is a record every decoder accepts.
var validRecord = recordWith(`"0f8fad5b-d9cb-469f-a165-70867728950e"`, `"`+tsStart+`"`, `"`+tsEnd+`"`, `30`)

// trickyRecords are inputs at the edges of what the fast path handles, each
// with the reason the reference gives for it (checked by
// TestDecodeTrickyRecords, as a check of the reading of encoding/json's
// rules that the fast path is written from).
var trickyRecords = []struct {
	in   string
	want Reason
}{
	{validRecord, Valid},
	{`{"view_id":"a","start_timestamp":"2024-09-11T10:05:00","end_timestamp":"2024-09-11 10:05:42.900","campaign_id":30}`, Valid},
	{`{"view_id": "a", "start_timestamp": "2024-09-11T10:05:07", "end_timestamp": "2024-09-11T10:07:12", "banner_id": 12, "campaign_id": 140}`, Valid},

	// Duplicate keys: the last one wins, null included; a type error
	// anywhere wins over everything but a syntax error.
	{`{"view_id":"a","view_id":"b","start_timestamp":"` + tsStart + `","end_timestamp":"` + tsEnd + `","campaign_id":30}`, Valid},
	{`{"view_id":"a","view_id":null,"start_timestamp":"` + tsStart + `","end_timestamp":"` + tsEnd + `","campaign_id":30}`, MissingViewID},
	{`{"view_id":null,"view_id":"a","start_timestamp":"` + tsStart + `","end_timestamp":"` + tsEnd + `","campaign_id":30}`, Valid},
	{`{"view_id":"a","view_id":"","start_timestamp":"` + tsStart + `","end_timestamp":"` + tsEnd + `","campaign_id":30}`, MissingViewID},
	{`{"view_id":"a","start_timestamp":"` + tsStart + `","end_timestamp":"` + tsEnd + `","campaign_id":30,"campaign_id":0}`, InvalidCampaignID},
	{`{"view_id":"a","start_timestamp":"` + tsStart + `","end_timestamp":"` + tsEnd + `","campaign_id":0,"campaign_id":30}`, Valid},
	{`{"view_id":"a","start_timestamp":"` + tsStart + `","end_timestamp":"` + tsEnd + `","campaign_id":"x","campaign_id":30}`, WrongType},
	{`{"view_id":"a","start_timestamp":"` + tsStart + `","end_timestamp":"` + tsEnd + `","campaign_id":30,"campaign_id":"x"}`, WrongType},
	{`{"view_id":"a","start_timestamp":"` + tsStart + `","end_timestamp":"` + tsEnd + `","campaign_id":30,"campaign_id":null}`, MissingCampaignID},
	{`{"view_id":"a","start_timestamp":"bad","start_timestamp":"` + tsStart + `","end_timestamp":"` + tsEnd + `","campaign_id":30}`, Valid},
	{`{"view_id":"a","start_timestamp":"` + tsEnd + `","end_timestamp":"` + tsEnd + `","end_timestamp":"` + tsStart + `","campaign_id":30}`, EndBeforeStart},
	{`{"banner_id":1,"banner_id":"x","banner_id":{},"view_id":"a","start_timestamp":"` + tsStart + `","end_timestamp":"` + tsEnd + `","campaign_id":30}`, Valid},

	// Keys match case-insensitively, an exact match first, Unicode simple
	// folding included (U+017F folds to s, U+212A to k); escapes in keys.
	{`{"VIEW_ID":"a","start_timestamp":"` + tsStart + `","end_timestamp":"` + tsEnd + `","campaign_id":30}`, Valid},
	{`{"View_Id":"a","Start_Timestamp":"` + tsStart + `","END_TIMESTAMP":"` + tsEnd + `","Campaign_ID":30}`, Valid},
	{`{"view_id":"a","VIEW_ID":"","start_timestamp":"` + tsStart + `","end_timestamp":"` + tsEnd + `","campaign_id":30}`, MissingViewID},
	{`{"VIEW_ID":"","view_id":"a","start_timestamp":"` + tsStart + `","end_timestamp":"` + tsEnd + `","campaign_id":30}`, Valid},
	{`{"view_id":"a","ſtart_timeſtamp":"` + tsStart + `","end_timestamp":"` + tsEnd + `","campaign_id":30}`, Valid},
	{`{"view_id":"a","start_timestamp":"` + tsStart + `","end_timeſtamp":"` + tsEnd + `","campaign_id":30}`, Valid},
	{`{"view_id":"a","start_timestamp":"` + tsStart + `","end_timestamp":"` + tsEnd + `","campaign_\u0069d":30}`, Valid},
	{`{"view_\u0069d":"a","start_timestamp":"` + tsStart + `","end_timestamp":"` + tsEnd + `","campaign_id":30}`, Valid},
	{`{"view\u005fid":"a","start_timestamp":"` + tsStart + `","end_timestamp":"` + tsEnd + `","campaign_id":30}`, Valid},
	{`{"view_id":"a","start_timestamp":"` + tsStart + `","end_timestamp":"` + tsEnd + `","campaign_id":30,"view_id\n":"b"}`, Valid},
	{`{"view_id":"a","start_timestamp":"` + tsStart + `","end_timestamp":"` + tsEnd + `","campaign_id":30,"view_id` + "\n" + `":"b"}`, InvalidJSON},
	{`{"view_id":"a","start_timestamp":"` + tsStart + `","end_timestamp":"` + tsEnd + `","campaign_id":30,"view_id\\n":"b"}`, Valid},
	{`{"view-id":"a","start_timestamp":"` + tsStart + `","end_timestamp":"` + tsEnd + `","campaign_id":30}`, MissingViewID},
	{`{"viewid":"a","start_timestamp":"` + tsStart + `","end_timestamp":"` + tsEnd + `","campaign_id":30}`, MissingViewID},
	{`{"view_id ":"a","start_timestamp":"` + tsStart + `","end_timestamp":"` + tsEnd + `","campaign_id":30}`, MissingViewID},
	{`{"":"a","é":1,"view_id":"a","start_timestamp":"` + tsStart + `","end_timestamp":"` + tsEnd + `","campaign_id":30}`, Valid},

	// Escapes in values.
	{recordWith(`"a\"b\\c\/d\be\ff\ng\rh\ti"`, `"`+tsStart+`"`, `"`+tsEnd+`"`, `30`), Valid},
	{recordWith(`"\u0041\u00e9\u65e5"`, `"`+tsStart+`"`, `"`+tsEnd+`"`, `30`), Valid},
	{recordWith(`"\ud83d\ude00"`, `"`+tsStart+`"`, `"`+tsEnd+`"`, `30`), Valid},
	{recordWith(`"\ud800"`, `"`+tsStart+`"`, `"`+tsEnd+`"`, `30`), Valid},
	{recordWith(`"\udc00\ud800x"`, `"`+tsStart+`"`, `"`+tsEnd+`"`, `30`), Valid},
	{recordWith(`"\u0000"`, `"`+tsStart+`"`, `"`+tsEnd+`"`, `30`), Valid},
	{recordWith(`"\u00"`, `"`+tsStart+`"`, `"`+tsEnd+`"`, `30`), InvalidJSON},
	{recordWith(`"\uZZZZ"`, `"`+tsStart+`"`, `"`+tsEnd+`"`, `30`), InvalidJSON},
	{recordWith(`"\x41"`, `"`+tsStart+`"`, `"`+tsEnd+`"`, `30`), InvalidJSON},
	{recordWith(`"\'"`, `"`+tsStart+`"`, `"`+tsEnd+`"`, `30`), InvalidJSON},
	{recordWith(`"a\"`, `"`+tsStart+`"`, `"`+tsEnd+`"`, `30`), InvalidJSON},
	{recordWith(`"\\"`, `"`+tsStart+`"`, `"`+tsEnd+`"`, `30`), Valid},
	{recordWith(`"a`+"\t"+`b"`, `"`+tsStart+`"`, `"`+tsEnd+`"`, `30`), InvalidJSON},
	{recordWith(`"a`+"\x00"+`b"`, `"`+tsStart+`"`, `"`+tsEnd+`"`, `30`), InvalidJSON},
	{recordWith(`"a`+"\x7f"+`b"`, `"`+tsStart+`"`, `"`+tsEnd+`"`, `30`), Valid},
	{recordWith(`"é日本😀"`, `"`+tsStart+`"`, `"`+tsEnd+`"`, `30`), Valid},
	{recordWith("\"\u2028\u2029\ufeff\"", `"`+tsStart+`"`, `"`+tsEnd+`"`, `30`), Valid},
	{recordWith(`"a"`, `"2024-09-11T10:05:00\u005a"`, `"`+tsEnd+`"`, `30`), Valid},
	{recordWith(`"a"`, `"2024\u002d09-11T10:05:00Z"`, `"`+tsEnd+`"`, `30`), Valid},
	{recordWith(`"a"`, `"2024-09-11T10:05:00\/"`, `"`+tsEnd+`"`, `30`), InvalidTimestamp},
	{recordWith(`"a"`, `"`+tsStart+`"`, `"2024-09-11T10:06:00\\"`, `30`), InvalidTimestamp},
	{`{"x":"\u0041\ud83d\ude00\"\\\/\b\f\n\r\t","view_id":"a","start_timestamp":"` + tsStart + `","end_timestamp":"` + tsEnd + `","campaign_id":30}`, Valid},
	{`{"x":"\u004","view_id":"a","start_timestamp":"` + tsStart + `","end_timestamp":"` + tsEnd + `","campaign_id":30}`, InvalidJSON},
	{`{"x":"\a","view_id":"a","start_timestamp":"` + tsStart + `","end_timestamp":"` + tsEnd + `","campaign_id":30}`, InvalidJSON},

	// Nested and other values.
	{`{"x":{"a":[1,2,{"b":null}],"c":"d"},"view_id":"a","start_timestamp":"` + tsStart + `","end_timestamp":"` + tsEnd + `","campaign_id":30}`, Valid},
	{`{"x":[],"y":{},"view_id":"a","start_timestamp":"` + tsStart + `","end_timestamp":"` + tsEnd + `","campaign_id":30}`, Valid},
	{`{"x":{"view_id":5},"view_id":"a","start_timestamp":"` + tsStart + `","end_timestamp":"` + tsEnd + `","campaign_id":30}`, Valid},
	{`{"x":[1,}],"view_id":"a","start_timestamp":"` + tsStart + `","end_timestamp":"` + tsEnd + `","campaign_id":30}`, InvalidJSON},
	{recordWith(`{"a":"b"}`, `"`+tsStart+`"`, `"`+tsEnd+`"`, `30`), WrongType},
	{recordWith(`["a"]`, `"`+tsStart+`"`, `"`+tsEnd+`"`, `30`), WrongType},
	{recordWith(`"a"`, `"`+tsStart+`"`, `"`+tsEnd+`"`, `[30]`), WrongType},
	{recordWith(`"a"`, `"`+tsStart+`"`, `"`+tsEnd+`"`, `{"id":30}`), WrongType},
	{recordWith(`"a"`, `["`+tsStart+`"]`, `"`+tsEnd+`"`, `30`), WrongType},
	{recordWith(`true`, `"`+tsStart+`"`, `"`+tsEnd+`"`, `30`), WrongType},
	{recordWith(`false`, `"`+tsStart+`"`, `"`+tsEnd+`"`, `30`), WrongType},
	{recordWith(`"a"`, `"`+tsStart+`"`, `true`, `30`), WrongType},
	{recordWith(`"a"`, `"`+tsStart+`"`, `"`+tsEnd+`"`, `true`), WrongType},
	{recordWith(`"a"`, `"`+tsStart+`"`, `"`+tsEnd+`"`, `false`), WrongType},
	{recordWith(`"a"`, `"`+tsStart+`"`, `"`+tsEnd+`"`, `"30"`), WrongType},
	{recordWith(`"a"`, `1726049100`, `"`+tsEnd+`"`, `30`), WrongType},
	{recordWith(`"a"`, `-1.5e3`, `"`+tsEnd+`"`, `30`), WrongType},
	{recordWith(`tru`, `"`+tsStart+`"`, `"`+tsEnd+`"`, `30`), InvalidJSON},
	{recordWith(`truee`, `"`+tsStart+`"`, `"`+tsEnd+`"`, `30`), InvalidJSON},
	{recordWith(`nul`, `"`+tsStart+`"`, `"`+tsEnd+`"`, `30`), InvalidJSON},
	{recordWith(`NULL`, `"`+tsStart+`"`, `"`+tsEnd+`"`, `30`), InvalidJSON},
	{recordWith(`"a"`, `"`+tsStart+`"`, `"`+tsEnd+`"`, `NaN`), InvalidJSON},
	{recordWith(`"a"`, `"`+tsStart+`"`, `"`+tsEnd+`"`, `Infinity`), InvalidJSON},
	{`{"x":true,"y":false,"z":null,"view_id":"a","start_timestamp":"` + tsStart + `","end_timestamp":"` + tsEnd + `","campaign_id":30}`, Valid},
	{`{"x":fals,"view_id":"a","start_timestamp":"` + tsStart + `","end_timestamp":"` + tsEnd + `","campaign_id":30}`, InvalidJSON},

	// Null values.
	{recordWith(`null`, `"`+tsStart+`"`, `"`+tsEnd+`"`, `30`), MissingViewID},
	{recordWith(`"a"`, `null`, `"`+tsEnd+`"`, `30`), MissingTimestamp},
	{recordWith(`"a"`, `"`+tsStart+`"`, `null`, `30`), MissingTimestamp},
	{recordWith(`"a"`, `"`+tsStart+`"`, `"`+tsEnd+`"`, `null`), MissingCampaignID},
	{recordWith(`"a"`, `""`, `"`+tsEnd+`"`, `30`), MissingTimestamp},
	{`{"banner_id":null,"view_id":"a","start_timestamp":"` + tsStart + `","end_timestamp":"` + tsEnd + `","campaign_id":30}`, Valid},
	{`null`, MissingViewID},
	{` null `, MissingViewID},
	{`{}`, MissingViewID},
	{" { \n} \t", MissingViewID},

	// Numbers in all forms.
	{recordWith(`"a"`, `"`+tsStart+`"`, `"`+tsEnd+`"`, `30.0`), WrongType},
	{recordWith(`"a"`, `"`+tsStart+`"`, `"`+tsEnd+`"`, `3e1`), WrongType},
	{recordWith(`"a"`, `"`+tsStart+`"`, `"`+tsEnd+`"`, `3E+1`), WrongType},
	{recordWith(`"a"`, `"`+tsStart+`"`, `"`+tsEnd+`"`, `30e-0`), WrongType},
	{recordWith(`"a"`, `"`+tsStart+`"`, `"`+tsEnd+`"`, `1e400`), WrongType},
	{recordWith(`"a"`, `"`+tsStart+`"`, `"`+tsEnd+`"`, `-30`), InvalidCampaignID},
	{recordWith(`"a"`, `"`+tsStart+`"`, `"`+tsEnd+`"`, `-0`), InvalidCampaignID},
	{recordWith(`"a"`, `"`+tsStart+`"`, `"`+tsEnd+`"`, `0`), InvalidCampaignID},
	{recordWith(`"a"`, `"`+tsStart+`"`, `"`+tsEnd+`"`, `1`), Valid},
	{recordWith(`"a"`, `"`+tsStart+`"`, `"`+tsEnd+`"`, `2147483647`), Valid},
	{recordWith(`"a"`, `"`+tsStart+`"`, `"`+tsEnd+`"`, `2147483648`), InvalidCampaignID},
	{recordWith(`"a"`, `"`+tsStart+`"`, `"`+tsEnd+`"`, `-2147483648`), InvalidCampaignID},
	{recordWith(`"a"`, `"`+tsStart+`"`, `"`+tsEnd+`"`, `999999999999999999`), InvalidCampaignID},
	{recordWith(`"a"`, `"`+tsStart+`"`, `"`+tsEnd+`"`, `1000000000000000000`), InvalidCampaignID},
	{recordWith(`"a"`, `"`+tsStart+`"`, `"`+tsEnd+`"`, `9223372036854775807`), InvalidCampaignID},
	{recordWith(`"a"`, `"`+tsStart+`"`, `"`+tsEnd+`"`, `9223372036854775808`), WrongType},
	{recordWith(`"a"`, `"`+tsStart+`"`, `"`+tsEnd+`"`, `-9223372036854775808`), InvalidCampaignID},
	{recordWith(`"a"`, `"`+tsStart+`"`, `"`+tsEnd+`"`, `-9223372036854775809`), WrongType},
	{recordWith(`"a"`, `"`+tsStart+`"`, `"`+tsEnd+`"`, `000000000000000000030`), InvalidJSON},
	{recordWith(`"a"`, `"`+tsStart+`"`, `"`+tsEnd+`"`, strings.Repeat("9", 100)), WrongType},
	{recordWith(`"a"`, `"`+tsStart+`"`, `"`+tsEnd+`"`, "1"+strings.Repeat("0", 30)+"e-30"), WrongType},
	{recordWith(`"a"`, `"`+tsStart+`"`, `"`+tsEnd+`"`, `030`), InvalidJSON},
	{recordWith(`"a"`, `"`+tsStart+`"`, `"`+tsEnd+`"`, `-030`), InvalidJSON},
	{recordWith(`"a"`, `"`+tsStart+`"`, `"`+tsEnd+`"`, `+30`), InvalidJSON},
	{recordWith(`"a"`, `"`+tsStart+`"`, `"`+tsEnd+`"`, `-`), InvalidJSON},
	{recordWith(`"a"`, `"`+tsStart+`"`, `"`+tsEnd+`"`, `.5`), InvalidJSON},
	{recordWith(`"a"`, `"`+tsStart+`"`, `"`+tsEnd+`"`, `30.`), InvalidJSON},
	{recordWith(`"a"`, `"`+tsStart+`"`, `"`+tsEnd+`"`, `30e`), InvalidJSON},
	{recordWith(`"a"`, `"`+tsStart+`"`, `"`+tsEnd+`"`, `30e+`), InvalidJSON},
	{recordWith(`"a"`, `"`+tsStart+`"`, `"`+tsEnd+`"`, `30.5.1`), InvalidJSON},
	{recordWith(`"a"`, `"`+tsStart+`"`, `"`+tsEnd+`"`, `0x1e`), InvalidJSON},
	{recordWith(`"a"`, `"`+tsStart+`"`, `"`+tsEnd+`"`, `3 0`), InvalidJSON},
	{`{"banner_id":-0.0e-0,"x":1E+999,"y":123456789012345678901234567890,"view_id":"a","start_timestamp":"` + tsStart + `","end_timestamp":"` + tsEnd + `","campaign_id":30}`, Valid},
	{`{"banner_id":01,"view_id":"a","start_timestamp":"` + tsStart + `","end_timestamp":"` + tsEnd + `","campaign_id":30}`, InvalidJSON},

	// Whitespace.
	{" \t\r\n{ \t\r\n\"view_id\" \t\r\n: \t\r\n\"a\" \t\r\n, \t\r\n\"start_timestamp\"\n:\n\"" + tsStart + "\"\r,\r\"end_timestamp\"\t:\t\"" + tsEnd + "\" , \"campaign_id\" : 30 \t\r\n} \t\r\n", Valid},
	{"{\"view_id\":\"a\",\"start_timestamp\":\"" + tsStart + "\",\"end_timestamp\":\"" + tsEnd + "\",\"campaign_id\":30\f}", InvalidJSON},
	{"{\"view_id\":\"a\",\"start_timestamp\":\"" + tsStart + "\",\"end_timestamp\":\"" + tsEnd + "\",\"campaign_id\":30\v}", InvalidJSON},
	{"{\"view_id\":\"a\",\"start_timestamp\":\"" + tsStart + "\",\"end_timestamp\":\"" + tsEnd + "\",\"campaign_id\":30\u00a0}", InvalidJSON},
	{"\u00a0" + validRecord, InvalidJSON},
	{validRecord + "\u2028", InvalidJSON},
	{validRecord + "\x00", InvalidJSON},

	// Framing: truncation, trailing garbage, BOM, other top-level values.
	{validRecord[:len(validRecord)-1], InvalidJSON},
	{validRecord + "x", InvalidJSON},
	{validRecord + "{}", InvalidJSON},
	{validRecord + ",", InvalidJSON},
	{validRecord + "}", InvalidJSON},
	{"\ufeff" + validRecord, InvalidJSON},
	{"\xef\xbb" + validRecord, InvalidJSON},
	{`{"view_id":"a",}`, InvalidJSON},
	{`{,"view_id":"a"}`, InvalidJSON},
	{`{"view_id" "a"}`, InvalidJSON},
	{`{"view_id":}`, InvalidJSON},
	{`{"view_id"}`, InvalidJSON},
	{`{'view_id':'a'}`, InvalidJSON},
	{`{view_id:"a"}`, InvalidJSON},
	{`{"view_id":"a";"campaign_id":30}`, InvalidJSON},
	{`{"view_id":"a"`, InvalidJSON},
	{`{"view_id":"a`, InvalidJSON},
	{`{"view_id`, InvalidJSON},
	{`{`, InvalidJSON},
	{`}`, InvalidJSON},
	{``, InvalidJSON},
	{` `, InvalidJSON},
	{`[]`, WrongType},
	{`[` + validRecord + `]`, WrongType},
	{`"view_id"`, WrongType},
	{`30`, WrongType},
	{`true`, WrongType},

	// Timestamps.
	{recordWith(`"a"`, `"2024-09-11 10:05:07.123456"`, `"2024-09-11T12:05:09+02:00"`, `30`), Valid},
	{recordWith(`"a"`, `"2024-09-11T10:05:07.123456789-00:00"`, `"2024-09-11T10:05:07.1234567891Z"`, `30`), Valid},
	{recordWith(`"a"`, `"2024-09-11T10:05:07+24:00"`, `"2024-09-11T10:05:07+23:60"`, `30`), Valid},
	{recordWith(`"a"`, `"2024-09-11T10:05:07,5Z"`, `"2024-09-11T10:05:07,5"`, `30`), Valid},
	{recordWith(`"a"`, `"2024-09-11T1:05:07.5Z"`, `"2024-09-11T10:05:07"`, `30`), Valid},
	{recordWith(`"a"`, `"2024-02-29T10:05:07Z"`, `"2024-03-01T00:00:00Z"`, `30`), Valid},
	{recordWith(`"a"`, `"2023-02-29T10:05:07Z"`, `"2024-03-01T00:00:00Z"`, `30`), InvalidTimestamp},
	{recordWith(`"a"`, `"2024-09-11T24:00:00Z"`, `"2024-09-12T00:00:00Z"`, `30`), InvalidTimestamp},
	{recordWith(`"a"`, `"2024-09-11T23:59:60Z"`, `"2024-09-12T00:00:00Z"`, `30`), InvalidTimestamp},
	{recordWith(`"a"`, `"1969-12-31T23:59:59.999999999Z"`, `"1970-01-01T00:00:00Z"`, `30`), TimestampOutOfRange},
	{recordWith(`"a"`, `"1970-01-01T00:00:00Z"`, `"2199-12-31T23:59:59.999999999Z"`, `30`), Valid},
	{recordWith(`"a"`, `"1970-01-01T00:00:00Z"`, `"2200-01-01T00:00:00Z"`, `30`), TimestampOutOfRange},
	{recordWith(`"a"`, `"1970-01-01T00:59:59+01:00"`, `"1970-01-01T00:00:00Z"`, `30`), TimestampOutOfRange},
	{recordWith(`"a"`, `"2024-09-11t10:05:07z"`, `"2024-09-11T10:05:07Z"`, `30`), InvalidTimestamp},
}

// trickyTimestamps are timestamps at the edges of what the fast path
// handles.
var trickyTimestamps = []string{
	"2024-09-11T10:05:07Z",
	"2024-09-11 10:05:07Z",
	"2024-09-11T10:05:07",
	"2024-09-11 10:05:07",
	"2024-09-11T10:05:07+02:00",
	"2024-09-11T10:05:07-05:30",
	"2024-09-11T10:05:07+00:00",
	"2024-09-11T10:05:07-00:00",
	"2024-09-11T10:05:07+23:59",
	"2024-09-11T10:05:07-23:59",
	"2024-09-11T10:05:07+24:00",
	"2024-09-11T10:05:07+23:60",
	"2024-09-11T10:05:07+25:00",
	"2024-09-11T10:05:07+24:61",
	"2024-09-11T10:05:07+0200",
	"2024-09-11T10:05:07+02",
	"2024-09-11T10:05:07+02:00:00",
	"2024-09-11T10:05:07 +02:00",
	"2024-09-11T10:05:07Z ",
	" 2024-09-11T10:05:07Z",
	"2024-09-11T10:05:07z",
	"2024-09-11t10:05:07Z",
	"2024-09-11T10:05:07UTC",
	"2024-09-11T10:05:07 UTC",
	"2024-09-11T10:05:07ZZ",
	"2024-09-11T10:05:07.5",
	"2024-09-11T10:05:07.5Z",
	"2024-09-11T10:05:07.05+01:00",
	"2024-09-11T10:05:07.123456789",
	"2024-09-11T10:05:07.123456789Z",
	"2024-09-11T10:05:07.123456789+14:00",
	"2024-09-11T10:05:07.1234567891",
	"2024-09-11T10:05:07.1234567891Z",
	"2024-09-11T10:05:07.12345678912345678912Z",
	"2024-09-11T10:05:07.000000000000000000000Z",
	"2024-09-11T10:05:07.",
	"2024-09-11T10:05:07.Z",
	"2024-09-11T10:05:07.+02:00",
	"2024-09-11T10:05:07,5",
	"2024-09-11T10:05:07,5Z",
	"2024-09-11T10:05:07,5+02:00",
	"2024-09-11T10:05:07.5.5",
	"2024-09-11T10:05:07.-5",
	"2024-09-11T10:05:07.5 ",
	"2024-09-11T1:05:07.5",
	"2024-09-11T1:05:07.5Z",
	"2024-09-11T1:05:07.55+02:00",
	"2024-09-11T1:05:07+02:00",
	"2024-09-11T10:5:07.5Z",
	"2024-09-11T10:05:7.5Z",
	"2024-9-11T10:05:07.5Z",
	"2024-09-1T10:05:07.5Z",
	"2024-09-11T-1:05:07Z",
	"2024-09-11T+1:05:07Z",
	"2024-09-11T 1:05:07Z",
	"+024-09-11T10:05:07Z",
	"-024-09-11T10:05:07Z",
	"2024-09-11T10:05:07+-2:00",
	"2024-09-11T10:05:07+2:00",
	"2024-09-11T10:05:07+02:0",
	"2024-09-11T10:05:07+02:-0",
	"2024-09-11T10:05:07.5+2:000",
	"2024-09-11T24:00:00",
	"2024-09-11T24:00:00Z",
	"2024-09-11T23:60:00Z",
	"2024-09-11T23:59:60Z",
	"2024-09-11T23:59:60",
	"2024-09-11T23:59:59.999999999Z",
	"2024-00-11T10:05:07Z",
	"2024-13-11T10:05:07Z",
	"2024-09-00T10:05:07Z",
	"2024-09-31T10:05:07Z",
	"2024-09-31T10:05:07",
	"2024-02-29T10:05:07Z",
	"2023-02-29T10:05:07Z",
	"2023-02-29T10:05:07",
	"2024-02-30T10:05:07Z",
	"1900-02-29T00:00:00Z",
	"2000-02-29T00:00:00Z",
	"2100-02-29T00:00:00",
	"0000-01-01T00:00:00Z",
	"0000-02-29T00:00:00Z",
	"0000-01-01T00:00:00+00:01",
	"0000-01-01T00:00:00-23:59",
	"0001-01-01T00:00:00Z",
	"1969-12-31T23:59:59.999999999Z",
	"1970-01-01T00:00:00Z",
	"2199-12-31T23:59:59.999999999Z",
	"2200-01-01T00:00:00Z",
	"9999-12-31T23:59:59.999999999Z",
	"9999-12-31T23:59:59.999999999-23:59",
	"2024-09-11X10:05:07",
	"2024/09/11T10:05:07",
	"2024-09-11T10.05.07",
	"2024-09-11T10:05:07\x00",
	"2024-09-11T10:05:0\x00",
	"２０２４-09-11T10:05:07",
	"2024-09-11T10:05:07.５",
	"2024-09-11T10:05",
	"2024-09-11T10:05:0",
	"2024-09-11",
	"1726049107",
	"",
	"                   ",
	"2024-09-11T10:05:07.1234567890123456789012",
	"2024-09-11T10:05:07.12345678901234567890123",
	"2024-09-11 10:05:07.123456789012345678+02:00",
	"2024-09-11T10:05:07.1234567890123456789+02:00",
}

func TestDecodeTrickyRecords(t *testing.T) {
	for _, tt := range trickyRecords {
		got, gotR := Decode([]byte(tt.in))
		want, wantR := decodeReference([]byte(tt.in))
		if wantR != tt.want {
			t.Errorf("decodeReference(%q) = %v, the table says %v", tt.in, wantR, tt.want)
		}
		if gotR != wantR || !sameView(got, want) {
			t.Errorf("Decode(%q) = %+v, %v; reference %+v, %v", tt.in, got, gotR, want, wantR)
		}
	}
}

// TestDecodeTruncated decodes every prefix of records of every shape.
func TestDecodeTruncated(t *testing.T) {
	for _, tt := range trickyRecords {
		for n := 0; n <= len(tt.in); n++ {
			checkDecode(t, []byte(tt.in[:n]))
		}
	}
}

// TestDecodeFastPathTaken makes sure the shapes that producers send are
// decoded by the fast path, not just correctly.
func TestDecodeFastPathTaken(t *testing.T) {
	end := time.Date(2024, 9, 11, 10, 5, 42, 0, time.UTC)
	b, err := Marshal(View{ViewID: []byte("0f8fad5b-d9cb-469f-a165-70867728950e"), StartTimestamp: end.Add(-90 * time.Second), EndTimestamp: end, BannerID: 99, CampaignID: 140})
	if err != nil {
		t.Fatal(err)
	}
	inputs := []string{
		string(b),
		`{"view_id": "7c9e6679-7425-40de-944b-e07fc1f90ae7", "start_timestamp": "2024-09-11T10:05:07", "end_timestamp": "2024-09-11T10:07:12", "banner_id": 12, "campaign_id": 140}`,
		`{"view_id":"x","start_timestamp":"2024-09-11 10:05:07.123456","end_timestamp":"2024-09-11T12:05:09+02:00","campaign_id":10}`,
		recordWith(`"a"`, `"`+tsStart+`"`, `"`+tsEnd+`"`, `30.5`),
		recordWith(`null`, `"`+tsStart+`"`, `"`+tsEnd+`"`, `30`),
	}
	for _, in := range inputs {
		if _, _, ok := decodeFast([]byte(in)); !ok {
			t.Errorf("fast path did not take %s", in)
		}
	}
	for _, s := range []string{"2024-09-11T10:05:07Z", "2024-09-11T10:05:07", "2024-09-11 10:05:07.123456", "2024-09-11T12:05:09.5+02:00"} {
		if _, ok := parseTimestampFast(s); !ok {
			t.Errorf("fast path did not take %s", s)
		}
	}
}

func TestParseTimestampTricky(t *testing.T) {
	for _, s := range trickyTimestamps {
		checkParseTimestamp(t, s)
		// And inside records, where they are parsed from bytes.
		checkDecode(t, []byte(recordWith(`"a"`, `"`+s+`"`, `"`+tsEnd+`"`, `30`)))
		checkDecode(t, []byte(recordWith(`"a"`, `"1970-01-01T00:00:00Z"`, `"`+s+`"`, `30`)))
	}
}

// TestParseTimestampCalendar compares every day of the years where the
// calendar arithmetic could go wrong (the first years, leap century rules,
// the accepted range, the last years), at times and offsets that vary from
// day to day, with days 29 to 32 of every month, valid or not.
func TestParseTimestampCalendar(t *testing.T) {
	years := [][2]int{{0, 5}, {96, 104}, {396, 404}, {1599, 1601}, {1896, 1904}, {1968, 2030}, {2096, 2104}, {2196, 2204}, {2396, 2404}, {9995, 9999}}
	forms := []string{"Z", "", "+01:00", "-23:59", ".5Z", ".123456789", "+00:00"}
	k := 0
	for _, yr := range years {
		for y := yr[0]; y <= yr[1]; y++ {
			for m := 1; m <= 12; m++ {
				for d := 1; d <= 32; d++ {
					if d > 28 || y%7 == 0 || k%3 == 0 {
						k++
						s := fmt.Sprintf("%04d-%02d-%02dT%02d:%02d:%02d%s", y, m, d, k%24, k%60, (k/7)%60, forms[k%len(forms)])
						checkParseTimestamp(t, s)
					}
				}
			}
		}
	}
	if t.Failed() {
		return
	}
	// Every time of day of one day, in steps of 7 seconds, both sides of
	// the epoch.
	for _, day := range []string{"1969-12-31", "1970-01-01", "2024-09-11"} {
		for sec := 0; sec < 86400; sec += 7 {
			s := fmt.Sprintf("%sT%02d:%02d:%02d", day, sec/3600, sec/60%60, sec%60)
			checkParseTimestamp(t, s)
		}
	}
}

func checkDecode(t *testing.T, b []byte) {
	t.Helper()
	got, gotR := Decode(b)
	want, wantR := decodeReference(b)
	if gotR != wantR || !sameView(got, want) {
		t.Fatalf("Decode(%q) = %+v, %v; reference %+v, %v", b, got, gotR, want, wantR)
	}
}

func checkParseTimestamp(t *testing.T, s string) {
	t.Helper()
	got, gotErr := ParseTimestamp(s)
	want, wantErr := parseTimestampReference(s)
	// == on time.Time: the same instant and the same representation, UTC.
	if gotErr != wantErr || got != want {
		t.Fatalf("ParseTimestamp(%q) = %v, %v; reference %v, %v", s, got, gotErr, want, wantErr)
	}
}

// FuzzDecodeMatchesReference checks that Decode returns exactly what the
// encoding/json decoder it replaced returns, for every input.
func FuzzDecodeMatchesReference(f *testing.F) {
	addRecordSeeds(f)
	for _, tt := range trickyRecords {
		f.Add([]byte(tt.in))
	}
	for _, s := range trickyTimestamps {
		f.Add([]byte(recordWith(`"a"`, `"`+s+`"`, `"`+tsEnd+`"`, `30`)))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkDecode(t, b)
	})
}

// FuzzParseTimestampMatchesReference checks that ParseTimestamp returns
// exactly what the time.Parse implementation it replaced returns, for every
// input.
func FuzzParseTimestampMatchesReference(f *testing.F) {
	for _, s := range trickyTimestamps {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkParseTimestamp(t, s)
	})
}
