package gcmodule

// Default is the package's collector, the one the package-level functions
// use; CPython has one per interpreter. Like any Collector it
// belongs to one goroutine at a time. It is made when the package is
// initialized, after the built-in types are registered.
var Default *Collector

// Collect is Default.Collect (gc.collect).
func Collect(gen int) int { return Default.Collect(gen) }

// Enable is Default.Enable (gc.enable).
func Enable() { Default.Enable() }

// Disable is Default.Disable (gc.disable).
func Disable() { Default.Disable() }

// IsEnabled is Default.IsEnabled (gc.isenabled).
func IsEnabled() bool { return Default.IsEnabled() }

// GetCount is Default.GetCount (gc.get_count).
func GetCount() (count0, count1, count2 int) { return Default.GetCount() }

// GetThreshold is Default.GetThreshold (gc.get_threshold).
func GetThreshold() (threshold0, threshold1, threshold2 int) { return Default.GetThreshold() }

// SetThreshold is Default.SetThreshold (gc.set_threshold).
func SetThreshold(threshold0 int, more ...int) { Default.SetThreshold(threshold0, more...) }

// SetDebug is Default.SetDebug (gc.set_debug).
func SetDebug(flags int) { Default.SetDebug(flags) }

// GetDebug is Default.GetDebug (gc.get_debug).
func GetDebug() int { return Default.GetDebug() }

// GetStats is Default.GetStats (gc.get_stats).
func GetStats() [NumGenerations]GenStats { return Default.GetStats() }

// GetObjects is Default.GetObjects (gc.get_objects).
func GetObjects(gen int) []Object { return Default.GetObjects(gen) }

// GetReferrers is Default.GetReferrers (gc.get_referrers).
func GetReferrers(objs ...Object) []Object { return Default.GetReferrers(objs...) }

// GetReferents is Default.GetReferents (gc.get_referents).
func GetReferents(objs ...Object) []Object { return Default.GetReferents(objs...) }

// IsTracked is Default.IsTracked (gc.is_tracked).
func IsTracked(o Object) bool { return Default.IsTracked(o) }

// IsFinalized is Default.IsFinalized (gc.is_finalized).
func IsFinalized(o Object) bool { return Default.IsFinalized(o) }

// Freeze is Default.Freeze (gc.freeze).
func Freeze() { Default.Freeze() }

// Unfreeze is Default.Unfreeze (gc.unfreeze).
func Unfreeze() { Default.Unfreeze() }

// GetFreezeCount is Default.GetFreezeCount (gc.get_freeze_count).
func GetFreezeCount() int { return Default.GetFreezeCount() }

// Garbage is Default.Garbage (gc.garbage).
func Garbage() Object { return Default.Garbage() }

// Callbacks returns Default's callback list (gc.callbacks) for the caller
// to append to or remove from. Like every call, it panics if a collection
// that panicked left Default unusable, although it reaches no list.
func Callbacks() *[]Callback {
	Default.checkOpen("Callbacks")
	return &Default.Callbacks
}

// AddCallback is Default.AddCallback: gc.callbacks.append(cb), returning
// gc.callbacks.remove(cb).
func AddCallback(cb Callback) (remove func()) { return Default.AddCallback(cb) }

// Incref is Default.Incref.
func Incref(o Object) { Default.Incref(o) }

// Decref is Default.Decref.
func Decref(o Object) { Default.Decref(o) }
