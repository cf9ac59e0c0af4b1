// Whether a name resolves through the container's resolver: `node -e <this file> NAME`.
require('dns').lookup(process.argv[1], (e, a) => {
  if (e) {
    console.log(e.code);
    process.exit(1);
  }
  console.log(a);
});
