;; A nightly job whose script is a local file; #:recursive? #t on a plain file
;; keeps its executable bit.  Written for vmfleet's test corpus.

(use-modules (gnu) (guix gexp))
(use-service-modules mcron networking ssh)
(use-package-modules rsync)

(define %backup-job
  #~(job "30 2 * * *"
         #$(local-file "files/backup.sh" "backup.sh" #:recursive? #t)))

(operating-system
  (host-name "godwit")
  (timezone "Australia/Perth")
  (locale "en_AU.utf8")
  (bootloader (bootloader-configuration
                (bootloader grub-bootloader)
                (targets '("/dev/vda"))))
  (file-systems (cons (file-system
                        (mount-point "/")
                        (device "/dev/vda2")
                        (type "ext4"))
                      %base-file-systems))
  (packages (cons rsync %base-packages))
  (services
   (append (list (service dhcp-client-service-type)
                 (service openssh-service-type)
                 (simple-service 'nightly-backup mcron-service-type
                                 (list %backup-job)))
           %base-services)))
