// The parts of three.js the motion page (moscale_cli/assets/web/viewer.js) uses, bundled by
// `npm run build-three` into one minified script that defines the global THREE.
export {
  AmbientLight,
  BufferAttribute,
  BufferGeometry,
  Color,
  CylinderGeometry,
  DirectionalLight,
  GridHelper,
  Group,
  Line,
  LineBasicMaterial,
  Mesh,
  MeshStandardMaterial,
  PerspectiveCamera,
  Quaternion,
  REVISION,
  Scene,
  SphereGeometry,
  Vector3,
  WebGLRenderer,
} from "three";
