;; The operating system is bound to a name and the name is the file's last
;; form, so `guix system' still gets an operating system.
;; Written for vmfleet's test corpus.

(use-modules (gnu))
(use-service-modules networking ssh)

(define-public %shag
  (operating-system
    (host-name "shag")
    (timezone "Europe/Copenhagen")
    (locale "da_DK.utf8")
    (bootloader (bootloader-configuration
                  (bootloader grub-bootloader)
                  (targets '("/dev/vda"))))
    (file-systems (cons (file-system
                          (mount-point "/")
                          (device "/dev/vda2")
                          (type "ext4"))
                        %base-file-systems))
    (services (append (list (service dhcp-client-service-type)
                            (service openssh-service-type))
                      %base-services))))

%shag
