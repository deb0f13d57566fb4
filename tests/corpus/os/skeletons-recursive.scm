;; Whole directories as local files: the skeleton of new home directories and
;; a static site, both with #:recursive? #t.  Written for vmfleet's test corpus.

(use-modules (gnu))
(use-service-modules networking ssh)

(operating-system
  (host-name "plover")
  (timezone "Asia/Tokyo")
  (locale "ja_JP.utf8")
  (bootloader (bootloader-configuration
                (bootloader grub-bootloader)
                (targets '("/dev/vda"))))
  (file-systems (cons (file-system
                        (mount-point "/")
                        (device "/dev/vda2")
                        (type "ext4"))
                      %base-file-systems))
  (skeletons (append `((".bashrc" ,(local-file "files/skel/.bashrc" "bashrc"))
                       (".config" ,(local-file "files/skel/.config" "config"
                                               #:recursive? #t)))
                     (default-skeletons)))
  (users (cons (user-account
                (name "haruki")
                (group "users")
                (supplementary-groups '("wheel")))
               %base-user-accounts))
  (services
   (append (list (service dhcp-client-service-type)
                 (service openssh-service-type)
                 (simple-service 'static-site etc-service-type
                                 `(("www" ,(local-file "../files/www"
                                                       #:recursive? #t)))))
           %base-services)))
