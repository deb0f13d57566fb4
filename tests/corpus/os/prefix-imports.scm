;; Modules imported with #:prefix (and one with #:select) to keep names apart.
;; Only bindings get the prefix; record field names stay as they are.
;; Written for vmfleet's test corpus.

(use-modules (gnu)
             ((gnu services ssh) #:prefix ssh:)
             ((gnu services networking) #:prefix net:)
             ((gnu packages admin) #:select (htop))
             ((gnu packages web) #:prefix web:))

(operating-system
  (host-name "whimbrel")
  (timezone "Pacific/Auckland")
  (locale "en_NZ.utf8")
  (bootloader (bootloader-configuration
                (bootloader grub-bootloader)
                (targets '("/dev/vda"))))
  (file-systems (cons (file-system
                        (mount-point "/")
                        (device "/dev/vda2")
                        (type "ext4"))
                      %base-file-systems))
  (packages (cons* htop web:nginx %base-packages))
  (services
   (append (list (service net:dhcp-client-service-type)
                 (service net:ntp-service-type)
                 (service ssh:openssh-service-type
                          (ssh:openssh-configuration
                           (password-authentication? #f))))
           %base-services)))
