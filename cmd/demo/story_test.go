package main

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gopymalloc/gopymalloc/obmalloc"
)

// smallStory is the story at test sizes: chapter 4 with a few arenas'
// worth of objects. Chapter 3 keeps its 9,000 lists, which cost little
// and are what it takes to see a collection of generation 1.
var smallStory = storyConfig{ManyObjects: 50_000, CycleLists: 9_000, WorkloadObjects: 5_000}

// TestStory tells the whole story and checks its key figures: they are
// what the prose claims, and the prose prints them.
func TestStory(t *testing.T) {
	needPymalloc(t)
	var out bytes.Buffer
	f, err := tellStory(&out, smallStory, 0)
	require.NoError(t, err)
	text := out.String()
	for i, c := range chapters {
		assert.Contains(t, text, fmt.Sprintf("Chapter %d. %s\n", i+1, c.title))
	}

	t.Run("chapter 1: objects placed by class, pool and arena", func(t *testing.T) {
		require.Len(t, f.Placed, len(storyObjects))
		for _, p := range f.Placed {
			if p.Request > obmalloc.DefaultThreshold {
				assert.False(t, p.InPool, "%s is a large block", p.Name)
				continue
			}
			require.True(t, p.InPool, p.Name)
			assert.Equal(t, int(p.Request-1)/16, p.Block.Class, "%s: class (n-1)>>4", p.Name)
			assert.Equal(t, uintptr(p.Block.Class+1)*16, p.Block.Size)
			assert.Zero(t, p.Block.Arena, "one arena holds them all")
			assert.Contains(t, text, fmt.Sprintf("%#x", p.Block.Pool))
		}
		// The int and the float share a pool, side by side.
		assert.Equal(t, f.Placed[0].Block.Pool, f.Placed[1].Block.Pool)
		assert.Equal(t, f.Placed[0].Block.IndexInPool+1, f.Placed[1].Block.IndexInPool)
		assert.Contains(t, text, "Owns(a Go variable) = false")
		// The sizes are a 64-bit CPython's, which a 32-bit system's story
		// says.
		assert.Contains(t, strings.Join(strings.Fields(text), " "), "with the sizes "+storyCPython()+" 3.11 asks for them")
	})

	t.Run("chapter 2: getDays", func(t *testing.T) {
		assert.Equal(t, 1, f.DaysRefcountInside)
		assert.Equal(t, []int{1, 1, 1}, f.DayStrRefcounts)
		assert.Equal(t, 5, f.BlocksInsideCall-f.BlocksBeforeCall, "the list, its item array, three strings")
		assert.Equal(t, f.BlocksBeforeCall, f.BlocksAfterCall, "freed at once when the result is dropped")
		assert.True(t, f.ClassRowsRestored)
		assert.Equal(t, []int{1, 2, 1}, f.KeptRefcounts, "week = getDays(); weekdays = week; del week")
		assert.Equal(t, f.BlocksBeforeCall, f.BlocksAfterKept)
		assert.Contains(t, text, "While the call runs, the list's count is 1")
		assert.Contains(t, strings.Join(strings.Fields(text), " "), `"Monday" is a 55-byte str in `+storyCPython()+".)")
		assert.Contains(t, text, "weekdays = week       refcount = 2")
	})

	t.Run("chapter 3: a cycle, and automatic collection", func(t *testing.T) {
		assert.Equal(t, [2]int{1, 1}, f.CycleRefcounts, "each list keeps the other alive")
		assert.Equal(t, 4, f.CycleBlocksHeld)
		assert.Equal(t, 2, f.CycleCollected)
		assert.Equal(t, f.CycleBlocksBefore, f.CycleBlocksAfter)
		assert.Contains(t, text, "gc: done, 2 unreachable, 0 uncollectable")
		assert.Contains(t, text, "gc.collect() returned 2")

		require.Len(t, f.AutoCollections, 12)
		first := f.AutoCollections[0]
		assert.Equal(t, [3]int{1, 0, 0}, f.AutoCountStart, "gc.garbage is the first container")
		assert.Equal(t, 700, first.AtList, "count0 starts at 1, so the 700th list takes it to 701")
		assert.Equal(t, [3]int{701, 0, 0}, first.CountsBefore)
		assert.Equal(t, 0, first.Generation)
		assert.Equal(t, 699, first.Collected, "all but the list being made")
		assert.Equal(t, [3]int{0, 1, 0}, first.CountsAfter)
		for i, ac := range f.AutoCollections[:11] {
			assert.Equal(t, 0, ac.Generation, "collection %d", i+1)
			assert.Equal(t, 701, ac.CountsBefore[0])
		}
		last := f.AutoCollections[11]
		assert.Equal(t, 1, last.Generation, "the 12th finds count1 = 11 > 10")
		assert.Equal(t, [3]int{701, 11, 0}, last.CountsBefore)
		assert.Equal(t, [3]int{0, 0, 1}, last.CountsAfter)
		assert.Contains(t, text, "Collection 12 was of generation 1")
	})

	t.Run("chapter 4: no arena reclaimed", func(t *testing.T) {
		k := f.Kept
		assert.Equal(t, obmalloc.KeepArenas, k.Policy)
		assert.Equal(t, [3]int{smallStory.ManyObjects, 0, smallStory.ManyObjects}, k.Blocks)
		assert.Equal(t, [3]int{0, 0, 0}, k.Reclaimed, "no arena is ever reclaimed")
		assert.Equal(t, k.Arenas[0], k.Arenas[1], "all still mapped once everything is freed")
		assert.Equal(t, k.Total[0], k.Total[2], "allocating again maps no arena")
		assert.Greater(t, k.Arenas[0], 2)

		r := f.Released
		assert.Equal(t, obmalloc.ReleaseArenas, r.Policy)
		assert.Equal(t, r.Arenas[0]-1, r.Reclaimed[1], "CPython keeps one wholly free arena")
		assert.Equal(t, 1, r.Arenas[1])
		assert.Equal(t, r.Total[1]+r.Reclaimed[1], r.Total[2], "allocating again maps them anew")
		if k.RSSOK {
			assert.Contains(t, text, "arenas keep")
		} else {
			assert.Contains(t, text, "not available")
		}
		assert.Contains(t, text, "VirtualAlloc")
		assert.Contains(t, text, "bpo-37257")
	})

	t.Run("chapter 5: the dump adds up", func(t *testing.T) {
		assert.True(t, f.DumpRowsAddUp)
		assert.True(t, f.DumpBytesAddUp)
		assert.Equal(t, f.DumpLiveOfProgram, f.DumpBlocksInUse)
		assert.Contains(t, text, "    Small block threshold = 512, in 32 size classes.\n")
		assert.Contains(t, text, "# arenas reclaimed                 =                    0")
	})
}

// TestStoryRSS runs chapter 4 at its full size, where the arenas dwarf
// the Go runtime's own memory, and checks what RSS does (on Linux only:
// elsewhere there is no RSS to read).
func TestStoryRSS(t *testing.T) {
	if testing.Short() {
		t.Skip("maps about 160 MiB")
	}
	var out bytes.Buffer
	f, err := tellStory(&out, defaultStory, 4)
	require.NoError(t, err)
	k, r := f.Kept, f.Released
	if !k.RSSOK {
		assert.Contains(t, out.String(), "not available")
		t.Skip("no RSS on this system")
	}
	arenaKB := int64(k.Arenas[0]) * obmalloc.DefaultArenaSize / 1024
	grown := k.RSS[1] - k.RSS[0]
	assert.Greater(t, grown, arenaKB/2, "allocating made the arenas resident")
	assert.Greater(t, k.RSS[2], k.RSS[1]-grown/10, "freeing everything leaves RSS high")
	assert.Less(t, k.RSS[3], k.RSS[2]+grown/10, "allocating again does not grow RSS")
	assert.Less(t, r.RSS[2], r.RSS[1]-grown/2, "releasing the arenas lowers RSS")
}

func TestStoryCommand(t *testing.T) {
	code, stdout, stderr := runDemo("story", "-chapter", "2")
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout, "Chapter 2. ")
	assert.NotContains(t, stdout, "Chapter 1. ")
	assert.NotContains(t, stdout, "Chapter 3. ")

	for _, tc := range []struct{ args, want []string }{
		{[]string{"-chapter", "6"}, []string{"-chapter 6: want 1 to 5"}},
		{[]string{"-objects", "0"}, []string{"-objects 0: want at least 1"}},
		{[]string{"extra"}, []string{`unexpected argument "extra"`}},
	} {
		code, stdout, stderr := runDemo(append([]string{"story"}, tc.args...)...)
		assert.Equal(t, exitUsage, code)
		assert.Empty(t, stdout)
		for _, w := range tc.want {
			assert.Contains(t, stderr, w)
		}
	}
}

// Without arguments the demo tells the whole story, at its full size.
func TestNoArgumentsTellsTheStory(t *testing.T) {
	if testing.Short() {
		t.Skip("the full story maps about 160 MiB")
	}
	code, stdout, stderr := runDemo()
	require.Equal(t, exitOK, code, stderr)
	assert.Empty(t, stderr, "no progress: stderr is not a terminal")
	assert.Equal(t, len(chapters), strings.Count(stdout, "\nChapter ")+boolInt(strings.HasPrefix(stdout, "Chapter ")))
	assert.Contains(t, stdout, "1,000,000 objects")
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// storyCPython is the CPython whose sizes the story quotes, as it names
// it: plainly on a 64-bit system, "a 64-bit CPython" on a 32-bit one.
func storyCPython() string {
	if strconv.IntSize == 32 {
		return "a 64-bit CPython"
	}
	return "CPython"
}
