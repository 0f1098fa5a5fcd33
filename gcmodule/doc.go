// Package gcmodule is CPython 3.11's object memory model and cycle
// collector in Go: reference-counted objects in pymalloc memory, freed the
// moment their count drops to zero, and the generational collector of
// Modules/gcmodule.c for the cycles reference counting cannot free, with
// Python's gc module as its API (Collect, Enable, GetCount, SetThreshold,
// GetObjects, GetReferrers, Freeze, Garbage, Callbacks, SetDebug, ...).
//
// # Objects
//
// An object lives outside the Go heap, in pymalloc's OBJ domain
// (pymalloc.Malloc, CPython's PyObject_Malloc); its variable-size parts
// (list items, dict tables) are in the MEM domain. An Object is the
// address of its header, a plain integer: the Go garbage collector never
// scans object memory and nothing in it is a Go pointer. A type is a small
// integer into a Go-side table of descriptors, whose Go functions are
// CPython's slots: traverse, clear, dealloc, finalize (PEP 442's
// tp_finalize), del (legacy tp_del), call. Containers carry the GC head,
// two words, in front of the 16-byte header (offsets for a 64-bit system):
//
//	   GC head           header                 data
//	┌──────────┬──────────┬────────┬─────────────┬──────────────────┐
//	│ _gc_next │ _gc_prev │ refcnt │ type|tag    │ list: size, items│──> items (MEM)
//	└──────────┴──────────┴────────┴─────────────┴──────────────────┘
//	 h-16       h-8        h = Object            h+16
//	  0 = untracked   bit 0 FINALIZED, bit 1 COLLECTING; gc_refs<<2
//	                  (NEXT_MASK_UNREACHABLE is a header flag here)
//
// A list made with one or two items keeps them inline, in the items word
// and the word after it, so that it is one block.
//
// Under pymalloc's tracing (pymalloc.StartTracing, Python's tracemalloc),
// ObjectTraceback is tracemalloc.get_object_traceback: where an object was
// made, from the program's call; this package's frames are left out of
// every traceback, as tracemalloc's hold Python frames and none of the
// interpreter's (traceback.go).
//
// Everything that holds a pointer or a count of items is a word, as in
// CPython: on a 32-bit system the GC head is 8 bytes (h-8, h-4), list and
// tuple items and instance values 4, a dict entry 12 (hash, key, value).
// The header stays 16 bytes there, where 32-bit CPython's PyObject is 8:
// the check word is worth the difference (docs/gc.md has the sizes).
//
// Atoms (int, str) have no GC head and are never tracked. Built-in types:
// list, tuple, dict, weakref, int, str, and classes (NewClass) whose
// instances keep their attributes inline, numbered by the class's shared
// keys, as 3.11's instances do (instance.go). Programs add container types
// with RegisterType.
//
// Incref and Decref count references; at zero the type's dealloc runs at
// once and drops the object's own references in turn. The trashcan
// (trashcan.go) bounds the recursion: a chain of a million containers is
// freed at most 50 deallocations deep.
//
// # The collector
//
// Each Collector has three generations and a permanent one (Freeze), as
// circular lists threaded through the GC heads:
//
//	gen0 ◀─▶ list ◀─▶ dict ◀─▶ tuple ◀─▶ ...   threshold 700, count = allocations - frees
//	gen1 ◀─▶ ...                               threshold 10,  count = gen0 collections
//	gen2 ◀─▶ ...                               threshold 10,  count = gen1 collections
//	permanent ◀─▶ ...                          never examined
//
// Allocating a container past threshold 0 runs a collection of the oldest
// generation whose count exceeds its threshold (a full one only once a
// quarter of the long-lived objects are new). A collection of generation
// g runs CPython's phases, in order, every working list threaded through
// the heads so that no Go memory is allocated per object:
//
//	young = gen 0..g spliced together
//	update_refs       gc_refs := refcount                     (COLLECTING set)
//	subtract_refs     gc_refs -= references from inside young
//	move_unreachable  gc_refs > 0 and what they reach stay; the rest -> unreachable
//	untrack_tuples    (and untrack_dicts for g = 2); survivors -> gen g+1
//	legacy finalizers tp_del objects and what they reach -> Garbage (uncollectable)
//	handle_weakrefs   clear weakrefs to unreachable; call callbacks of live weakrefs
//	finalize_garbage  tp_finalize once per object (FINALIZED bit)
//	resurrection      reachability again; resurrected objects -> gen g+1
//	delete_garbage    tp_clear each object; reference counting frees the rest
//
// Collect returns what gc.collect returns: collected plus uncollectable.
// Finalizers, weakref callbacks and collection callbacks run on the
// calling goroutine; a panic in one is reported as unraisable (see
// SetUnraisableHook) and the collection goes on, as CPython reports
// exceptions in __del__.
//
// # Closing a Collector
//
// A Collector owns pymalloc blocks of its own: the generation lists'
// heads, the Garbage list, the empty tuple singleton and the interned
// attribute names. Close frees them once every object the collector
// allocated is gone, so that a program that makes collectors and drops
// them (one per test, per request, per experiment) gets its memory back;
// after Close every method panics with a *UsageError ("use of a closed
// Collector") and a second Close returns that error. Close refuses, with
// an error that counts the live, tracked, frozen and Garbage objects, and
// leaves the collector usable, while anything it allocated is alive or a
// reference to its empty tuple or Garbage list is held. Default is never
// closed.
//
// CPython's analogue is the finalization of an interpreter
// (Py_EndInterpreter, Py_FinalizeEx), whose _PyGC_Fini drops gc.garbage
// and gc.callbacks, with the interned strings released and the GC state
// freed with the interpreter. What is alike: the collector's own objects
// and memory go, callbacks are dropped, and nothing is used afterwards.
// What is not: finalization runs a last collection, calls the __del__ of
// what it frees, warns about uncollectable garbage and then leaves
// whatever is still alive allocated for good; Close runs no collection,
// no finalizer and no callback, and refuses instead of leaking, since a
// Go program goes on running after it and could still reach the objects.
// A program collects its cycles (Collect(2)) and empties Garbage first.
//
// # Goroutines
//
// A Collector and the objects it allocated belong to one goroutine at a
// time, as an interpreter belongs to the thread holding the GIL. Another
// goroutine may take over after a proper hand-off (a channel, a mutex), but
// concurrent calls corrupt the lists and counts; there is no lock. The race
// detector reports such use through the Collector's own fields (it does not
// see pymalloc memory). Default is the package's collector, used by the
// package-level functions.
//
// # Misuse
//
// Every object carries a check word derived from its address and its
// collector. A public call given a dead object, an address that is not an
// object, another collector's object, or an object whose count would go
// negative panics with a *UsageError naming the call, the address and the
// fault. Every other misuse panics with a *UsageError too, naming the
// argument at fault: an invalid generation or threshold (with the text of
// the error Python's gc module raises, "invalid generation" for
// Collect(3)), a type spec without a name. A broken count found by a
// collection panics the same way (CPython aborts) and leaves the collector
// unusable: every later call on it, Decref of its objects included, panics
// with a *UsageError saying so, and Close refuses to free what it can no
// longer trust. Running out
// of memory is not misuse: constructors return Nil and mutators
// ErrNoMemory.
//
// # Differences from CPython
//
// There are no per-type free lists (so freeing a container always uncounts
// it), no small-int cache or string interning beyond attribute names, no
// type objects, frames, modules or interpreter shutdown (Close, above, is
// not one); docs/gc.md lists which of CPython's gc tests are ported and
// why the others are not.
package gcmodule
