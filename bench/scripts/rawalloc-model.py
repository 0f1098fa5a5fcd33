#!/usr/bin/env python3
"""rawalloc-model.py TRACE.gz...

A model of the large-block allocator's chunk space under a replay: it follows
which requests of a pytrace file reach internal/rawalloc (0 bytes and 513 up
to 256 KiB, and the reallocs of such blocks, with rawalloc's in-place rule)
and prints the high-water mark of carved chunk space under two policies:
P0, this port's (a LIFO free list per size class, blocks never merged or
split), and P1, a coalescing allocator (a freed block merges with free
neighbours, a merged block at the bump pointer goes back to it, a request
takes the smallest bin that serves it and splits off the rest). P0's figures
match the real heap's carved totals within 3 % on the public traces. Session
10 used it to decide whether coalescing was worth building
(bench/results/session10-experiments.txt, item 1). Slow: a few minutes per
trace.
"""
import gzip,sys,bisect
def classcap(n):
    if n<=128: return max(16,(n+15)//16*16)
    k=(n-1).bit_length()-1
    step=(n-1-(1<<k))>>(k-2)
    return (1<<k)+((step+1)<<(k-2))
CAPS=[]
c=16
n=16
while True:
    cc=classcap(n)
    if cc>262144: break
    if not CAPS or CAPS[-1]!=cc: CAPS.append(cc)
    n=cc+1
def cls(n): return bisect.bisect_left(CAPS,max(n,1))
def atmost(cap): return bisect.bisect_right(CAPS,cap)-1
MAXC=262144

class P0:
    def __init__(s): s.free={}; s.bump=0; s.cap={}
    def alloc(s,n):
        c=cls(n); L=s.free.get(c)
        if L: a=L.pop(); s.cap[a]=CAPS[c]; return a
        a=s.bump+16; s.bump=a+CAPS[c]; s.cap[a]=CAPS[c]; return a
    def release(s,a):
        c=atmost(s.cap[a]); s.free.setdefault(c,[]).append(a)
    def realloc(s,a,n):
        cap=s.cap[a]
        if n<=cap and (cls(n)==atmost(cap) or 4*n>3*cap): return a
        b=s.alloc(n); s.release(a); return b

class P1:
    # coalescing: blocks are (addr->cap) contiguous; free set with lists per atmost class; top rollback; split
    def __init__(s): s.bump=0; s.cap={}; s.isfree=set(); s.lists={}; s.starts=[]  # sorted starts
    def _ins(s,a):
        c=atmost(s.cap[a]); s.lists.setdefault(c,set()).add(a); s.isfree.add(a)
    def _del(s,a):
        c=atmost(s.cap[a]); s.lists[c].discard(a); s.isfree.discard(a)
    def alloc(s,n):
        c=cls(n); need=CAPS[c]
        for d in range(c,len(CAPS)):
            L=s.lists.get(d)
            if L:
                a=L.pop(); s.isfree.discard(a)
                cap=s.cap[a]
                if cap-need>=32:
                    b=a+need+16; s.cap[b]=cap-need-16; bisect.insort(s.starts,b); s.cap[a]=need; s._ins(b)
                return a
        a=s.bump+16; s.bump=a+need; s.cap[a]=need; s.starts.append(a); return a
    def release(s,a):
        # merge next
        nxt=a+s.cap[a]+16
        if nxt in s.isfree:
            s._del(nxt); s.cap[a]+=16+s.cap[nxt]; del s.cap[nxt]; i=bisect.bisect_left(s.starts,nxt); s.starts.pop(i)
        i=bisect.bisect_left(s.starts,a)
        if i>0:
            p=s.starts[i-1]
            if p in s.isfree and p+s.cap[p]+16==a:
                s._del(p); s.cap[p]+=16+s.cap[a]; del s.cap[a]; s.starts.pop(i); a=p
        if a+s.cap[a]==s.bump:
            s.bump=a-16; del s.cap[a]; s.starts.pop(bisect.bisect_left(s.starts,a)); return
        s._ins(a)
    def realloc(s,a,n):
        cap=s.cap[a]
        if n<=cap and (cls(n)==atmost(cap) or 4*n>3*cap): return a
        b=s.alloc(n); s.release(a); return b

def run(path,P):
    h=P(); blk={}; large={}; hw=0
    for l in gzip.open(path,'rt'):
        if l[0]=='#': continue
        p=l.split(); op=p[0]
        if op=='m' or op=='c':
            n=int(p[2]) if op=='m' else int(p[2])*int(p[3])
            if (n==0 or n>512) and n<=MAXC: large[p[1]]=h.alloc(n)
            else: blk[p[1]]=n
        elif op=='f':
            if p[1] in large: h.release(large.pop(p[1]))
            else: blk.pop(p[1],None)
        elif op=='r':
            old,new,n=p[1],p[2],int(p[3])
            if old in large:
                a=large.pop(old)
                if n>MAXC: h.release(a)
                else: large[new]=h.realloc(a,n)
            else:
                on=blk.pop(old,None)
                if (n==0 or n>512) and n<=MAXC: large[new]=h.alloc(n)
                else: blk[new]=n
        hw=max(hw,h.bump)
    return hw
for t in sys.argv[1:]:
    print(t, 'P0 %.2f MB'%(run(t,P0)/1e6), 'P1 %.2f MB'%(run(t,P1)/1e6), flush=True)
