;; Host name, user name and key are defined first and used below, the key as
;; a string (plain-file), so no file beyond this one is read.
;; Written for vmfleet's test corpus.

(use-modules (gnu))
(use-service-modules networking ssh)

(define %host-name "sanderling")
(define %user "noor")
(define %noor-key
  "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ3vZsR1Yb0C6q2cQ6b5mXU0cF1o2uXfWw6p3kq8s9dE noor@corpus.invalid")

(operating-system
  (host-name %host-name)
  (timezone "Asia/Dubai")
  (locale "en_US.utf8")
  (bootloader (bootloader-configuration
                (bootloader grub-bootloader)
                (targets '("/dev/vda"))))
  (file-systems (cons (file-system
                        (mount-point "/")
                        (device "/dev/vda2")
                        (type "ext4"))
                      %base-file-systems))
  (users (cons (user-account
                (name %user)
                (comment "Noor")
                (group "users")
                (home-directory (string-append "/home/" %user))
                (supplementary-groups '("wheel")))
               %base-user-accounts))
  (services
   (append (list (service dhcp-client-service-type)
                 (service openssh-service-type
                          (openssh-configuration
                           (authorized-keys
                            `((,%user ,(plain-file "noor.pub" %noor-key)))))))
           %base-services)))
