;;; The operating-system records of configs as the built Guix evaluates them, for
;;; tests/realguix/test_summaries.py. Run through the built Guix:
;;;   pre-inst-env guix repl -- os-record.scm REQUESTS.json
;;; REQUESTS.json: a list of {"cwd", "load_path": [absolute dirs], "file" or "expression",
;;; "markers": [names such as "%base-packages"]}. Prints one JSON list: for each request its
;;; host name, bootloader, packages, user services and users, or the error, and what each marker
;;; holds. Every package, service type and bootloader comes with its own name and the names of
;;; the public variables bound to it, so the test can match what a config writes.

(use-modules (guix ui) (gnu system) (gnu services) (gnu bootloader) (gnu system accounts)
             (guix packages) (json) (ice-9 match) (srfi srfi-1))

(define (request-ref request key)
  (assoc-ref request key))

(define base-load-path %load-path)

(define (load-os request)
  "The operating-system REQUEST describes, loaded as 'guix system' loads it, or the error text."
  (chdir (request-ref request "cwd"))
  ;; each -L is consed on, so the last one given comes first (guix/scripts/build.scm@8e2f32cee98:251)
  (set! %load-path (append (reverse (vector->list (request-ref request "load_path")))
                           base-load-path))
  (catch #t
    (lambda ()
      (let ((file (request-ref request "file")))
        (if file
            (load* file (make-user-module '((gnu system) (gnu services) (gnu system shadow))))
            (read/eval (request-ref request "expression")))))
    (lambda args
      (format #f "~s" args))))

(define (module-tree-for-each proc)
  "Call (PROC SYMBOL VALUE) for every bound public variable of every loaded module."
  (define seen (make-hash-table))
  (let walk ((module (resolve-module '() #f)))
    (unless (hashq-ref seen module)
      (hashq-set! seen module #t)
      (let ((iface (false-if-exception (module-public-interface module))))
        (when (and iface (module? iface))
          (module-for-each (lambda (symbol var)
                             (when (false-if-exception (variable-bound? var))
                               (proc symbol (variable-ref var))))
                           iface)))
      (hash-for-each (lambda (name sub) (walk sub)) (module-submodules module)))))

(define names-of (make-hash-table))     ;object -> public variable names
(define by-name (make-hash-table))      ;marker name -> value

(define (index! markers)
  (module-tree-for-each
   (lambda (symbol value)
     (when (or (package? value) (service-type? value) (bootloader? value))
       (hashq-set! names-of value
                   (delete-duplicates (cons (symbol->string symbol) (hashq-ref names-of value '())))))
     (when (and (member (symbol->string symbol) markers)
                (not (hash-ref by-name (symbol->string symbol))))
       (hash-set! by-name (symbol->string symbol) value)))))

(define (named object own-name)
  `(("name" . ,own-name)
    ("vars" . ,(list->vector (hashq-ref names-of object '())))))

(define (describe value)
  (match value
    ((? package? p) (named p (package-name p)))
    (((? package? p) (? string? output)) (named p (package-name p)))
    ((? service-type? t) (named t (symbol->string (service-type-name t))))
    ((? service? s) (describe (service-kind s)))
    ((? user-account? u) `(("name" . ,(user-account-name u)) ("vars" . #())))
    (_ `(("name" . ,(format #f "~a" value)) ("vars" . #())))))

(define marker-module
  ;; Where a marker such as %desktop-services is looked up when no loaded module exports it
  ;; as a variable (an identifier macro in some revisions: evaluating it expands it).
  (make-user-module '((gnu) (gnu services desktop) (gnu system))))

(define (marker-value name)
  (let ((v (hash-ref by-name name)))
    (if (list? v)
        v
        (false-if-exception (eval (string->symbol name) marker-module)))))

(define (record os markers)
  (if (string? os)
      `(("error" . ,os))
      (let ((bootloader (bootloader-configuration-bootloader (operating-system-bootloader os))))
        `(("host_name" . ,(operating-system-host-name os))
          ("bootloader" . ,(named bootloader (symbol->string (bootloader-name bootloader))))
          ("packages" . ,(list->vector (map describe (operating-system-packages os))))
          ("services" . ,(list->vector (map describe (operating-system-user-services os))))
          ("users" . ,(list->vector (map user-account-name (operating-system-users os))))
          ("markers" . ,(map (lambda (m)
                               (let ((v (marker-value m)))
                                 (cons m (if (list? v) (list->vector (map describe v)) 'null))))
                             markers))))))

(match (command-line)
  ((_ requests-file)
   (let* ((requests (vector->list (call-with-input-file requests-file json->scm)))
          (loaded (map (lambda (r) (false-if-exception (load-os r))) requests))
          (markers (delete-duplicates
                    (append-map (lambda (r) (vector->list (request-ref r "markers"))) requests))))
     (index! markers)
     (scm->json (list->vector
                 (map (lambda (r os) (record (if (operating-system? os) os (format #f "~a" os))
                                             (vector->list (request-ref r "markers"))))
                      requests loaded)))
     (newline))))
