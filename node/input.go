package node

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// decodeBody reads exactly one JSON value into v: unknown fields, wrong
// types, malformed JSON, an empty body and trailing data are 400s naming
// the field where there is one; a body over the limit is a 413. Nothing
// that fails here reaches the ledger.
func decodeBody(r *http.Request, v any) error {
	b, err := readBody(r)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return invalid("", "body: empty; expected a JSON object")
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return jsonInputError(err)
	}
	if _, err := d.Token(); err != io.EOF {
		return invalid("", "body: trailing data after the JSON value")
	}
	return nil
}

// jsonInputError turns a decoding error into a 400 naming the field.
func jsonInputError(err error) error {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		return invalid(te.Field, "field %s: expected %s, got JSON %s", te.Field, te.Type, te.Value)
	case errors.As(err, &se):
		return invalid("", "body: malformed JSON at byte %d: %v", se.Offset, se)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return invalid("", "body: malformed JSON: unexpected end")
	}
	// encoding/json has no typed error for an unknown field; its message
	// is the only place that names it.
	if name, ok := strings.CutPrefix(err.Error(), `json: unknown field "`); ok {
		name = strings.TrimSuffix(name, `"`)
		return invalid(name, "body: unknown field %q (the schema is closed: there are no free-text fields)", name)
	}
	return invalid("", "body: %v", err)
}

// emptyBody accepts no body, whitespace or {} (actions that take no input).
func emptyBody(r *http.Request) error {
	var none struct{}
	return optionalBody(r, &none)
}

// optionalBody decodes a body into v if there is one (fields may be omitted).
func optionalBody(r *http.Request, v any) error {
	b, err := readBody(r)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	r.Body = io.NopCloser(bytes.NewReader(b))
	return decodeBody(r, v)
}

// readBody reads the whole (size-limited) body; over the limit is a 413.
func readBody(r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, err
		}
		return nil, invalid("", "reading body: %v", err)
	}
	return b, nil
}

// pathUint reads a positive integer path parameter.
func pathUint(r *http.Request, name string) (uint64, error) {
	v, err := strconv.ParseUint(r.PathValue(name), 10, 64)
	if err != nil || v == 0 {
		return 0, invalid(name, "%s %q: expected a positive integer", name, r.PathValue(name))
	}
	return v, nil
}

// queryUint reads an optional non-negative integer query parameter.
func queryUint(q url.Values, name string, def uint64) (uint64, error) {
	s := q.Get(name)
	if s == "" {
		return def, nil
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, invalid(name, "%s=%q: expected a non-negative integer", name, s)
	}
	return v, nil
}

// urlQuery parses the query string strictly: a malformed one is a 400
// (r.URL.Query would silently drop the bad pair).
func urlQuery(r *http.Request) (url.Values, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, invalid("", "malformed query string: %v", err)
	}
	return q, nil
}

// sortedKeys returns the parameter names in order, so the first bad one
// reported is always the same.
func sortedKeys(q url.Values) []string {
	keys := make([]string, 0, len(q))
	for k := range q { //det:ok sorted below
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
