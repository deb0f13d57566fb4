;; Keys installed on the host by hand and named by absolute file name, as
;; many personal configs do.  @ABSROOT@ is replaced by the corpus tests with
;; a directory they create (see ../README.md).  Written for vmfleet's test corpus.

(use-modules (gnu))
(use-service-modules networking ssh)

(operating-system
  (host-name "osprey")
  (timezone "America/Chicago")
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
                 (service openssh-service-type
                          (openssh-configuration
                           (permit-root-login 'prohibit-password)
                           (authorized-keys
                            `(("root" ,(local-file "@ABSROOT@/etc/vmfleet/root-ops.pub")))))))
           %base-services)))
