// After django-otp-webauthn registers a passkey: on the enrolment page, go on to the recovery
// codes (a POST); on the Sign-in security page, show the new passkey in the list.
document.addEventListener("otp_webauthn.register_complete", function () {
  var next = document.getElementById("after-passkey-form");
  if (next) {
    next.submit();
  } else {
    window.location.reload();
  }
});
