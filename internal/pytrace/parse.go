package pytrace

import (
	"errors"
	"fmt"
	"math"
)

// nums is how many numbers follow each op letter.
var nums = [...]int{Malloc: 2, Calloc: 3, Realloc: 3, Free: 1}

// parseOp reads the syntax of one op line (without its '\n'; the caller has
// handled empty and comment lines) into its kind and numbers. It works on
// the bytes in place and allocates only to describe an error, because it
// runs millions of times per trace.
func parseOp(line []byte, v *[3]uint64) (Kind, error) {
	var k Kind
	switch line[0] {
	case 'm':
		k = Malloc
	case 'c':
		k = Calloc
	case 'r':
		k = Realloc
	case 'f':
		k = Free
	default:
		return 0, fmt.Errorf("unknown op %q (want m, c, r or f)", field(line, 0))
	}
	if len(line) > 1 && line[1] != ' ' {
		return 0, fmt.Errorf("unknown op %q (want m, c, r or f followed by a space)", field(line, 0))
	}
	want := nums[k]
	p := 1
	for i := 0; i < want; i++ {
		// Here p is at the end of the line or, after the op letter or a
		// number, at a space (num stops only at a space or the end).
		if p == len(line) {
			return 0, fmt.Errorf("too few fields: %s takes %d numbers, found %d", k, want, i)
		}
		p++
		n, q, err := num(line, p)
		if err != nil {
			return 0, fmt.Errorf("field %d: %w", i+2, err)
		}
		v[i], p = n, q
	}
	if p != len(line) {
		if p+1 == len(line) {
			return 0, errors.New("line ends with a space")
		}
		return 0, fmt.Errorf("too many fields: %s takes %d numbers", k, want)
	}
	return k, nil
}

// num parses the decimal number that starts at line[p] and must end at a
// space or at the end of the line. It returns the number and the position
// after it.
func num(line []byte, p int) (uint64, int, error) {
	start := p
	var x uint64
	for p < len(line) && line[p] >= '0' && line[p] <= '9' {
		d := uint64(line[p] - '0')
		if x > (math.MaxUint64-d)/10 {
			return 0, 0, fmt.Errorf("number %q does not fit in 64 bits", field(line, start))
		}
		x = x*10 + d
		p++
	}
	switch {
	case p == start && p == len(line):
		return 0, 0, errors.New("line ends with a space")
	case p == start && line[p] == ' ':
		return 0, 0, errors.New("two spaces (fields are separated by exactly one)")
	case p < len(line) && line[p] != ' ':
		return 0, 0, fmt.Errorf("%q is not an unsigned decimal number", field(line, start))
	case line[start] == '0' && p-start > 1:
		return 0, 0, fmt.Errorf("number %q has a leading zero", field(line, start))
	}
	return x, p, nil
}

// field returns the text from line[p] to the next space, for messages.
func field(line []byte, p int) string {
	q := p
	for q < len(line) && line[q] != ' ' {
		q++
	}
	return string(line[p:q])
}
