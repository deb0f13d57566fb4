;; Names a key file that does not exist: guix fails when it interns it, so
;; vmfleet must refuse at add time, naming the file.
;; Written for vmfleet's test corpus.

(use-modules (gnu))
(use-service-modules networking ssh)

(operating-system
  (host-name "dotterel")
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
  (services
   (append (list (service dhcp-client-service-type)
                 (service openssh-service-type
                          (openssh-configuration
                           (authorized-keys
                            `(("root" ,(local-file "keys/not-there.pub")))))))
           %base-services)))
