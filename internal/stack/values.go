package stack

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
)

// checker validates the loosely typed x-quai values compose-go hands over
// (after interpolation and merging), reporting every problem at the position
// of the key that caused it.
type checker struct {
	idx *posIndex
	ds  *diagnostics
	// dir is the project's real directory; allow its x-quai.allow_host_paths.
	dir   string
	allow []string
	lim   Limits
}

func (c *checker) errf(path, hint, format string, args ...any) {
	c.ds.add(c.idx.lookup(path), path, hint, format, args...)
}

// describe names the YAML type of v for messages.
func describe(v any) string {
	switch v := v.(type) {
	case nil:
		return "nothing (null)"
	case string:
		return fmt.Sprintf("the string %q", v)
	case bool:
		return fmt.Sprintf("the boolean %v", v)
	case int, int64, uint64, float64:
		return fmt.Sprintf("the number %v", v)
	case []any:
		return "a list"
	case map[string]any:
		return "a mapping"
	default:
		return fmt.Sprintf("%T", v)
	}
}

// mapping returns v as a mapping; null counts as an empty one.
func (c *checker) mapping(path string, v any) (map[string]any, bool) {
	switch v := v.(type) {
	case nil:
		return map[string]any{}, true
	case map[string]any:
		return v, true
	}
	c.errf(path, "", "must be a mapping of keys to values, got %s", describe(v))
	return nil, false
}

// keys reports every key of m not in allowed, suggesting the closest one.
// misplaced gives a hint for keys that belong somewhere else.
func (c *checker) keys(path string, m map[string]any, allowed []string, misplaced map[string]string) {
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if slices.Contains(allowed, k) {
			continue
		}
		hint := misplaced[k]
		if hint == "" {
			hint = didYouMean(k, allowed)
		}
		hint = cmp.Or(hint, "allowed keys are "+strings.Join(allowed, ", "))
		c.errf(joinPath(path, k), hint, "unknown key %q", k)
	}
}

func (c *checker) str(path string, v any) (string, bool) {
	if s, ok := v.(string); ok {
		return s, true
	}
	c.errf(path, "", "must be a string, got %s", describe(v))
	return "", false
}

// scalar accepts any scalar and renders it as a string (environment values
// written as numbers or booleans, as Compose allows).
func (c *checker) scalar(path string, v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case bool:
		return strconv.FormatBool(v), true
	case int:
		return strconv.Itoa(v), true
	case int64:
		return strconv.FormatInt(v, 10), true
	case uint64:
		return strconv.FormatUint(v, 10), true
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), true
	}
	c.errf(path, "", "must be a string, a number or a boolean, got %s", describe(v))
	return "", false
}

// integer accepts whole numbers, and strings holding one (a value that came
// from ${VARIABLE} interpolation is a string).
func (c *checker) integer(path string, v any) (int, bool) {
	switch v := v.(type) {
	case int:
		return v, true
	case int64:
		if v >= math.MinInt32 && v <= math.MaxInt32 {
			return int(v), true
		}
	case uint64:
		if v <= math.MaxInt32 {
			return int(v), true
		}
	case float64:
		if v == math.Trunc(v) && math.Abs(v) <= math.MaxInt32 {
			return int(v), true
		}
	case string:
		if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
			return n, true
		}
	}
	c.errf(path, "", "must be a whole number, got %s", describe(v))
	return 0, false
}

// number accepts any number, and strings holding one.
func (c *checker) number(path string, v any) (float64, bool) {
	switch v := v.(type) {
	case int:
		return float64(v), true
	case int64:
		return float64(v), true
	case uint64:
		return float64(v), true
	case float64:
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			return v, true
		}
	case string:
		if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
			return f, true
		}
	}
	c.errf(path, "", "must be a number, got %s", describe(v))
	return 0, false
}

func (c *checker) stringList(path string, v any) ([]string, bool) {
	list, ok := v.([]any)
	if !ok {
		c.errf(path, "", "must be a list of strings, got %s", describe(v))
		return nil, false
	}
	out := make([]string, 0, len(list))
	good := true
	for i, item := range list {
		s, ok := c.str(joinPath(path, strconv.Itoa(i)), item)
		good = good && ok
		out = append(out, s)
	}
	return out, good
}
