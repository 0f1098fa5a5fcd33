package main

import (
	"fmt"
	"strings"
)

// count writes n (with commas, as the figures elsewhere) and noun, which
// is in the singular for n == 1 and the plural otherwise: "1 arena",
// "2 arenas", "3 classes". Counts that the heap decides are 1 as often as
// not (arenas of a small heap, pools of a rare class), so the noun is
// never hard-coded in the plural.
func count(n int, noun string) string {
	num := fmt.Sprint(n)
	if n >= 0 {
		num = withCommas(uint64(n))
	}
	if n == 1 {
		return num + " " + noun
	}
	return num + " " + plural(noun)
}

// plural is the plural of one of the demo's nouns, all regular: an s, x,
// ch or sh at the end takes es ("classes"), any other noun an s.
func plural(noun string) string {
	for _, end := range []string{"s", "x", "ch", "sh"} {
		if strings.HasSuffix(noun, end) {
			return noun + "es"
		}
	}
	return noun + "s"
}
