package window

// idSet holds the view_ids counted in one window. Canonical UUIDs, which is
// what the producer writes, are kept as 16 bytes instead of a 36-byte string
// plus header: at a million views in a window that is the difference between
// about 40 and 100 MB. Any other id is kept as its string, so two ids are the
// same only if their bytes are.
type idSet struct {
	uuids map[[16]byte]struct{}
	other map[string]struct{}
}

// add inserts id and reports whether it was new.
func (s *idSet) add(id string) bool {
	if u, ok := parseCanonicalUUID(id); ok {
		if s.uuids == nil {
			s.uuids = make(map[[16]byte]struct{})
		}
		n := len(s.uuids)
		s.uuids[u] = struct{}{}
		return len(s.uuids) > n
	}
	if s.other == nil {
		s.other = make(map[string]struct{})
	}
	n := len(s.other)
	s.other[id] = struct{}{}
	return len(s.other) > n
}

// parseCanonicalUUID accepts only the lowercase 8-4-4-4-12 form, so that the
// 16-byte key maps back to exactly one string.
func parseCanonicalUUID(s string) (u [16]byte, ok bool) {
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return u, false
	}
	j := 0
	for i := 0; i < 36; i += 2 {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			i--
			continue
		}
		hi, ok1 := hexVal(s[i])
		lo, ok2 := hexVal(s[i+1])
		if !ok1 || !ok2 {
			return u, false
		}
		u[j] = hi<<4 | lo
		j++
	}
	return u, true
}

func hexVal(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}
