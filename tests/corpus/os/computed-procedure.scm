;; Key file names made by a procedure of the user name and mapped over the
;; users: the names exist only when the config runs, so vmfleet must warn.
;; Written for vmfleet's test corpus.

(use-modules (gnu) (srfi srfi-1))
(use-service-modules networking ssh)

(define %people '("alice" "admin"))

(define (key-file-of name)
  (string-append (dirname (current-filename)) "/../keys/" name ".pub"))

(operating-system
  (host-name "curlew")
  (timezone "Europe/London")
  (locale "en_GB.utf8")
  (bootloader (bootloader-configuration
                (bootloader grub-bootloader)
                (targets '("/dev/vda"))))
  (file-systems (cons (file-system
                        (mount-point "/")
                        (device "/dev/vda2")
                        (type "ext4"))
                      %base-file-systems))
  (users (append (map (lambda (name)
                        (user-account
                         (name name)
                         (group "users")
                         (supplementary-groups '("wheel"))))
                      %people)
                 %base-user-accounts))
  (services
   (append (list (service dhcp-client-service-type)
                 (service openssh-service-type
                          (openssh-configuration
                           (authorized-keys
                            (map (lambda (name)
                                   (list name (local-file (key-file-of name))))
                                 %people)))))
           %base-services)))
