// the document sits next to this page (relative, so a path prefix in front of statusgate keeps working);
// validatorUrl null: no badge fetched from validator.swagger.io, the page needs nothing but this server
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "openapi.json",
    dom_id: "#swagger-ui",
    validatorUrl: null,
    deepLinking: true,
  });
});
