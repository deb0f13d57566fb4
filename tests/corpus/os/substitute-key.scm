;; An extra substitute server whose signing key is kept in the repository,
;; added through modify-services on %base-services.
;; Written for vmfleet's test corpus.

(use-modules (gnu))
(use-service-modules networking ssh)

(operating-system
  (host-name "phalarope")
  (timezone "America/Denver")
  (locale "en_US.utf8")
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
                 (service openssh-service-type))
           (modify-services %base-services
             (guix-service-type
              config => (guix-configuration
                         (inherit config)
                         (substitute-urls
                          (append (list "https://cache.corpus.invalid")
                                  %default-substitute-urls))
                         (authorized-keys
                          (append (list (local-file "../keys/signing-key.pub"))
                                  %default-authorized-guix-keys))))))))
