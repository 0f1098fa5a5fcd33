package pytrace

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParsePoints(t *testing.T) {
	tests := []struct {
		in   string
		want []int
		err  string // part of the error; "" for success
	}{
		{in: "1", want: []int{1}},
		{in: "1013321,1071462,2026643,3039964", want: []int{1013321, 1071462, 2026643, 3039964}},
		{in: "1,2,3", want: []int{1, 2, 3}},
		{in: "", err: `points "": empty list`},
		{in: "0", err: `item 1 ("0"): op 0 named`},
		{in: "5,0", err: `item 2 ("0"): op 0 named`},
		{in: "1,,3", err: `item 2 (""): empty item`},
		{in: "1,", err: `item 2 (""): empty item`},
		{in: ",1", err: `item 1 (""): empty item`},
		{in: "1, 2", err: `item 2 (" 2"): not an op number`},
		{in: " 1", err: `item 1 (" 1"): not an op number`},
		{in: "1\n", err: `item 1 ("1\n"): not an op number`},
		{in: "+1", err: `item 1 ("+1"): not an op number`},
		{in: "-1", err: `item 1 ("-1"): not an op number`},
		{in: "1;2", err: `item 1 ("1;2"): not an op number`},
		{in: "0x10", err: `item 1 ("0x10"): not an op number`},
		{in: "01", err: `item 1 ("01"): leading zero`},
		{in: "3,2", err: `item 2 ("2"): not after the previous point 3`},
		{in: "3,3", err: `item 2 ("3"): not after the previous point 3`},
		{in: "1,99999999999999999999", err: `item 2 ("99999999999999999999"): op number too large`},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParsePoints(tc.in)
			if tc.err != "" {
				require.Error(t, err)
				assert.Nil(t, got)
				assert.Contains(t, err.Error(), tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestParsePointsTrace(t *testing.T) {
	tr, err := Read(strings.NewReader(formatExample), "example.trace.gz")
	require.NoError(t, err)

	got, err := tr.ParsePoints("1,7")
	require.NoError(t, err)
	assert.Equal(t, []int{1, 7}, got)

	_, err = tr.ParsePoints("1,8")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `item 2 ("8"): past the last op of example (7 ops)`)

	// Without a trace there is no upper bound.
	got, err = ParsePoints("1,8")
	require.NoError(t, err)
	assert.Equal(t, []int{1, 8}, got)
}

func TestLiveAfterBadPoints(t *testing.T) {
	tr, err := Read(strings.NewReader(formatExample), "example")
	require.NoError(t, err)
	assert.Empty(t, tr.LiveAfter(nil))
	assert.Panics(t, func() { tr.LiveAfter([]int{8}) })
	assert.Panics(t, func() { tr.LiveAfter([]int{3, 2}) })
	assert.Panics(t, func() { tr.LiveAfter([]int{-1}) })
}
