;; Nothing but comments: loading it returns no value at all.
;; Written for vmfleet's test corpus.
