/*  privlog.c - the privacy log: segments, frames, chain, checkpoints.

    The writer (kp_privlog_t) keeps one buffer of encoded frames: append adds
    to it, sync writes the unsynced part with one write and one fdatasync,
    and index_flush hands the synced records to the LMDB index and empties
    the buffer. Everything that reads files (recovery, verify, scan,
    prune, export, index catch-up) goes through s_segment_map and
    s_frame_parse, so that a hostile file is judged in one place.
*/
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "logindex.h"
#include "privlog.h"

//  Error messages are cut to fit their buffers on purpose.
#pragma GCC diagnostic ignored "-Wformat-truncation"

#define S_MAGIC "KPLOGSG1"
#define S_CP_MAGIC "KPLOGCP1"
#define S_CP_STATEMENT 56
#define S_PATH 4096

// ---------------------------------------------------------------------------
// CRC32C, slicing-by-8 (polynomial 0x82F63B78, reflected)

static const uint32_t s_crc_table[8][256] = {
    {
        0x00000000, 0xf26b8303, 0xe13b70f7, 0x1350f3f4, 0xc79a971f, 0x35f1141c, 0x26a1e7e8,
        0xd4ca64eb, 0x8ad958cf, 0x78b2dbcc, 0x6be22838, 0x9989ab3b, 0x4d43cfd0, 0xbf284cd3,
        0xac78bf27, 0x5e133c24, 0x105ec76f, 0xe235446c, 0xf165b798, 0x030e349b, 0xd7c45070,
        0x25afd373, 0x36ff2087, 0xc494a384, 0x9a879fa0, 0x68ec1ca3, 0x7bbcef57, 0x89d76c54,
        0x5d1d08bf, 0xaf768bbc, 0xbc267848, 0x4e4dfb4b, 0x20bd8ede, 0xd2d60ddd, 0xc186fe29,
        0x33ed7d2a, 0xe72719c1, 0x154c9ac2, 0x061c6936, 0xf477ea35, 0xaa64d611, 0x580f5512,
        0x4b5fa6e6, 0xb93425e5, 0x6dfe410e, 0x9f95c20d, 0x8cc531f9, 0x7eaeb2fa, 0x30e349b1,
        0xc288cab2, 0xd1d83946, 0x23b3ba45, 0xf779deae, 0x05125dad, 0x1642ae59, 0xe4292d5a,
        0xba3a117e, 0x4851927d, 0x5b016189, 0xa96ae28a, 0x7da08661, 0x8fcb0562, 0x9c9bf696,
        0x6ef07595, 0x417b1dbc, 0xb3109ebf, 0xa0406d4b, 0x522bee48, 0x86e18aa3, 0x748a09a0,
        0x67dafa54, 0x95b17957, 0xcba24573, 0x39c9c670, 0x2a993584, 0xd8f2b687, 0x0c38d26c,
        0xfe53516f, 0xed03a29b, 0x1f682198, 0x5125dad3, 0xa34e59d0, 0xb01eaa24, 0x42752927,
        0x96bf4dcc, 0x64d4cecf, 0x77843d3b, 0x85efbe38, 0xdbfc821c, 0x2997011f, 0x3ac7f2eb,
        0xc8ac71e8, 0x1c661503, 0xee0d9600, 0xfd5d65f4, 0x0f36e6f7, 0x61c69362, 0x93ad1061,
        0x80fde395, 0x72966096, 0xa65c047d, 0x5437877e, 0x4767748a, 0xb50cf789, 0xeb1fcbad,
        0x197448ae, 0x0a24bb5a, 0xf84f3859, 0x2c855cb2, 0xdeeedfb1, 0xcdbe2c45, 0x3fd5af46,
        0x7198540d, 0x83f3d70e, 0x90a324fa, 0x62c8a7f9, 0xb602c312, 0x44694011, 0x5739b3e5,
        0xa55230e6, 0xfb410cc2, 0x092a8fc1, 0x1a7a7c35, 0xe811ff36, 0x3cdb9bdd, 0xceb018de,
        0xdde0eb2a, 0x2f8b6829, 0x82f63b78, 0x709db87b, 0x63cd4b8f, 0x91a6c88c, 0x456cac67,
        0xb7072f64, 0xa457dc90, 0x563c5f93, 0x082f63b7, 0xfa44e0b4, 0xe9141340, 0x1b7f9043,
        0xcfb5f4a8, 0x3dde77ab, 0x2e8e845f, 0xdce5075c, 0x92a8fc17, 0x60c37f14, 0x73938ce0,
        0x81f80fe3, 0x55326b08, 0xa759e80b, 0xb4091bff, 0x466298fc, 0x1871a4d8, 0xea1a27db,
        0xf94ad42f, 0x0b21572c, 0xdfeb33c7, 0x2d80b0c4, 0x3ed04330, 0xccbbc033, 0xa24bb5a6,
        0x502036a5, 0x4370c551, 0xb11b4652, 0x65d122b9, 0x97baa1ba, 0x84ea524e, 0x7681d14d,
        0x2892ed69, 0xdaf96e6a, 0xc9a99d9e, 0x3bc21e9d, 0xef087a76, 0x1d63f975, 0x0e330a81,
        0xfc588982, 0xb21572c9, 0x407ef1ca, 0x532e023e, 0xa145813d, 0x758fe5d6, 0x87e466d5,
        0x94b49521, 0x66df1622, 0x38cc2a06, 0xcaa7a905, 0xd9f75af1, 0x2b9cd9f2, 0xff56bd19,
        0x0d3d3e1a, 0x1e6dcdee, 0xec064eed, 0xc38d26c4, 0x31e6a5c7, 0x22b65633, 0xd0ddd530,
        0x0417b1db, 0xf67c32d8, 0xe52cc12c, 0x1747422f, 0x49547e0b, 0xbb3ffd08, 0xa86f0efc,
        0x5a048dff, 0x8ecee914, 0x7ca56a17, 0x6ff599e3, 0x9d9e1ae0, 0xd3d3e1ab, 0x21b862a8,
        0x32e8915c, 0xc083125f, 0x144976b4, 0xe622f5b7, 0xf5720643, 0x07198540, 0x590ab964,
        0xab613a67, 0xb831c993, 0x4a5a4a90, 0x9e902e7b, 0x6cfbad78, 0x7fab5e8c, 0x8dc0dd8f,
        0xe330a81a, 0x115b2b19, 0x020bd8ed, 0xf0605bee, 0x24aa3f05, 0xd6c1bc06, 0xc5914ff2,
        0x37faccf1, 0x69e9f0d5, 0x9b8273d6, 0x88d28022, 0x7ab90321, 0xae7367ca, 0x5c18e4c9,
        0x4f48173d, 0xbd23943e, 0xf36e6f75, 0x0105ec76, 0x12551f82, 0xe03e9c81, 0x34f4f86a,
        0xc69f7b69, 0xd5cf889d, 0x27a40b9e, 0x79b737ba, 0x8bdcb4b9, 0x988c474d, 0x6ae7c44e,
        0xbe2da0a5, 0x4c4623a6, 0x5f16d052, 0xad7d5351,
    },
    {
        0x00000000, 0x13a29877, 0x274530ee, 0x34e7a899, 0x4e8a61dc, 0x5d28f9ab, 0x69cf5132,
        0x7a6dc945, 0x9d14c3b8, 0x8eb65bcf, 0xba51f356, 0xa9f36b21, 0xd39ea264, 0xc03c3a13,
        0xf4db928a, 0xe7790afd, 0x3fc5f181, 0x2c6769f6, 0x1880c16f, 0x0b225918, 0x714f905d,
        0x62ed082a, 0x560aa0b3, 0x45a838c4, 0xa2d13239, 0xb173aa4e, 0x859402d7, 0x96369aa0,
        0xec5b53e5, 0xfff9cb92, 0xcb1e630b, 0xd8bcfb7c, 0x7f8be302, 0x6c297b75, 0x58ced3ec,
        0x4b6c4b9b, 0x310182de, 0x22a31aa9, 0x1644b230, 0x05e62a47, 0xe29f20ba, 0xf13db8cd,
        0xc5da1054, 0xd6788823, 0xac154166, 0xbfb7d911, 0x8b507188, 0x98f2e9ff, 0x404e1283,
        0x53ec8af4, 0x670b226d, 0x74a9ba1a, 0x0ec4735f, 0x1d66eb28, 0x298143b1, 0x3a23dbc6,
        0xdd5ad13b, 0xcef8494c, 0xfa1fe1d5, 0xe9bd79a2, 0x93d0b0e7, 0x80722890, 0xb4958009,
        0xa737187e, 0xff17c604, 0xecb55e73, 0xd852f6ea, 0xcbf06e9d, 0xb19da7d8, 0xa23f3faf,
        0x96d89736, 0x857a0f41, 0x620305bc, 0x71a19dcb, 0x45463552, 0x56e4ad25, 0x2c896460,
        0x3f2bfc17, 0x0bcc548e, 0x186eccf9, 0xc0d23785, 0xd370aff2, 0xe797076b, 0xf4359f1c,
        0x8e585659, 0x9dface2e, 0xa91d66b7, 0xbabffec0, 0x5dc6f43d, 0x4e646c4a, 0x7a83c4d3,
        0x69215ca4, 0x134c95e1, 0x00ee0d96, 0x3409a50f, 0x27ab3d78, 0x809c2506, 0x933ebd71,
        0xa7d915e8, 0xb47b8d9f, 0xce1644da, 0xddb4dcad, 0xe9537434, 0xfaf1ec43, 0x1d88e6be,
        0x0e2a7ec9, 0x3acdd650, 0x296f4e27, 0x53028762, 0x40a01f15, 0x7447b78c, 0x67e52ffb,
        0xbf59d487, 0xacfb4cf0, 0x981ce469, 0x8bbe7c1e, 0xf1d3b55b, 0xe2712d2c, 0xd69685b5,
        0xc5341dc2, 0x224d173f, 0x31ef8f48, 0x050827d1, 0x16aabfa6, 0x6cc776e3, 0x7f65ee94,
        0x4b82460d, 0x5820de7a, 0xfbc3faf9, 0xe861628e, 0xdc86ca17, 0xcf245260, 0xb5499b25,
        0xa6eb0352, 0x920cabcb, 0x81ae33bc, 0x66d73941, 0x7575a136, 0x419209af, 0x523091d8,
        0x285d589d, 0x3bffc0ea, 0x0f186873, 0x1cbaf004, 0xc4060b78, 0xd7a4930f, 0xe3433b96,
        0xf0e1a3e1, 0x8a8c6aa4, 0x992ef2d3, 0xadc95a4a, 0xbe6bc23d, 0x5912c8c0, 0x4ab050b7,
        0x7e57f82e, 0x6df56059, 0x1798a91c, 0x043a316b, 0x30dd99f2, 0x237f0185, 0x844819fb,
        0x97ea818c, 0xa30d2915, 0xb0afb162, 0xcac27827, 0xd960e050, 0xed8748c9, 0xfe25d0be,
        0x195cda43, 0x0afe4234, 0x3e19eaad, 0x2dbb72da, 0x57d6bb9f, 0x447423e8, 0x70938b71,
        0x63311306, 0xbb8de87a, 0xa82f700d, 0x9cc8d894, 0x8f6a40e3, 0xf50789a6, 0xe6a511d1,
        0xd242b948, 0xc1e0213f, 0x26992bc2, 0x353bb3b5, 0x01dc1b2c, 0x127e835b, 0x68134a1e,
        0x7bb1d269, 0x4f567af0, 0x5cf4e287, 0x04d43cfd, 0x1776a48a, 0x23910c13, 0x30339464,
        0x4a5e5d21, 0x59fcc556, 0x6d1b6dcf, 0x7eb9f5b8, 0x99c0ff45, 0x8a626732, 0xbe85cfab,
        0xad2757dc, 0xd74a9e99, 0xc4e806ee, 0xf00fae77, 0xe3ad3600, 0x3b11cd7c, 0x28b3550b,
        0x1c54fd92, 0x0ff665e5, 0x759baca0, 0x663934d7, 0x52de9c4e, 0x417c0439, 0xa6050ec4,
        0xb5a796b3, 0x81403e2a, 0x92e2a65d, 0xe88f6f18, 0xfb2df76f, 0xcfca5ff6, 0xdc68c781,
        0x7b5fdfff, 0x68fd4788, 0x5c1aef11, 0x4fb87766, 0x35d5be23, 0x26772654, 0x12908ecd,
        0x013216ba, 0xe64b1c47, 0xf5e98430, 0xc10e2ca9, 0xd2acb4de, 0xa8c17d9b, 0xbb63e5ec,
        0x8f844d75, 0x9c26d502, 0x449a2e7e, 0x5738b609, 0x63df1e90, 0x707d86e7, 0x0a104fa2,
        0x19b2d7d5, 0x2d557f4c, 0x3ef7e73b, 0xd98eedc6, 0xca2c75b1, 0xfecbdd28, 0xed69455f,
        0x97048c1a, 0x84a6146d, 0xb041bcf4, 0xa3e32483,
    },
    {
        0x00000000, 0xa541927e, 0x4f6f520d, 0xea2ec073, 0x9edea41a, 0x3b9f3664, 0xd1b1f617,
        0x74f06469, 0x38513ec5, 0x9d10acbb, 0x773e6cc8, 0xd27ffeb6, 0xa68f9adf, 0x03ce08a1,
        0xe9e0c8d2, 0x4ca15aac, 0x70a27d8a, 0xd5e3eff4, 0x3fcd2f87, 0x9a8cbdf9, 0xee7cd990,
        0x4b3d4bee, 0xa1138b9d, 0x045219e3, 0x48f3434f, 0xedb2d131, 0x079c1142, 0xa2dd833c,
        0xd62de755, 0x736c752b, 0x9942b558, 0x3c032726, 0xe144fb14, 0x4405696a, 0xae2ba919,
        0x0b6a3b67, 0x7f9a5f0e, 0xdadbcd70, 0x30f50d03, 0x95b49f7d, 0xd915c5d1, 0x7c5457af,
        0x967a97dc, 0x333b05a2, 0x47cb61cb, 0xe28af3b5, 0x08a433c6, 0xade5a1b8, 0x91e6869e,
        0x34a714e0, 0xde89d493, 0x7bc846ed, 0x0f382284, 0xaa79b0fa, 0x40577089, 0xe516e2f7,
        0xa9b7b85b, 0x0cf62a25, 0xe6d8ea56, 0x43997828, 0x37691c41, 0x92288e3f, 0x78064e4c,
        0xdd47dc32, 0xc76580d9, 0x622412a7, 0x880ad2d4, 0x2d4b40aa, 0x59bb24c3, 0xfcfab6bd,
        0x16d476ce, 0xb395e4b0, 0xff34be1c, 0x5a752c62, 0xb05bec11, 0x151a7e6f, 0x61ea1a06,
        0xc4ab8878, 0x2e85480b, 0x8bc4da75, 0xb7c7fd53, 0x12866f2d, 0xf8a8af5e, 0x5de93d20,
        0x29195949, 0x8c58cb37, 0x66760b44, 0xc337993a, 0x8f96c396, 0x2ad751e8, 0xc0f9919b,
        0x65b803e5, 0x1148678c, 0xb409f5f2, 0x5e273581, 0xfb66a7ff, 0x26217bcd, 0x8360e9b3,
        0x694e29c0, 0xcc0fbbbe, 0xb8ffdfd7, 0x1dbe4da9, 0xf7908dda, 0x52d11fa4, 0x1e704508,
        0xbb31d776, 0x511f1705, 0xf45e857b, 0x80aee112, 0x25ef736c, 0xcfc1b31f, 0x6a802161,
        0x56830647, 0xf3c29439, 0x19ec544a, 0xbcadc634, 0xc85da25d, 0x6d1c3023, 0x8732f050,
        0x2273622e, 0x6ed23882, 0xcb93aafc, 0x21bd6a8f, 0x84fcf8f1, 0xf00c9c98, 0x554d0ee6,
        0xbf63ce95, 0x1a225ceb, 0x8b277743, 0x2e66e53d, 0xc448254e, 0x6109b730, 0x15f9d359,
        0xb0b84127, 0x5a968154, 0xffd7132a, 0xb3764986, 0x1637dbf8, 0xfc191b8b, 0x595889f5,
        0x2da8ed9c, 0x88e97fe2, 0x62c7bf91, 0xc7862def, 0xfb850ac9, 0x5ec498b7, 0xb4ea58c4,
        0x11abcaba, 0x655baed3, 0xc01a3cad, 0x2a34fcde, 0x8f756ea0, 0xc3d4340c, 0x6695a672,
        0x8cbb6601, 0x29faf47f, 0x5d0a9016, 0xf84b0268, 0x1265c21b, 0xb7245065, 0x6a638c57,
        0xcf221e29, 0x250cde5a, 0x804d4c24, 0xf4bd284d, 0x51fcba33, 0xbbd27a40, 0x1e93e83e,
        0x5232b292, 0xf77320ec, 0x1d5de09f, 0xb81c72e1, 0xccec1688, 0x69ad84f6, 0x83834485,
        0x26c2d6fb, 0x1ac1f1dd, 0xbf8063a3, 0x55aea3d0, 0xf0ef31ae, 0x841f55c7, 0x215ec7b9,
        0xcb7007ca, 0x6e3195b4, 0x2290cf18, 0x87d15d66, 0x6dff9d15, 0xc8be0f6b, 0xbc4e6b02,
        0x190ff97c, 0xf321390f, 0x5660ab71, 0x4c42f79a, 0xe90365e4, 0x032da597, 0xa66c37e9,
        0xd29c5380, 0x77ddc1fe, 0x9df3018d, 0x38b293f3, 0x7413c95f, 0xd1525b21, 0x3b7c9b52,
        0x9e3d092c, 0xeacd6d45, 0x4f8cff3b, 0xa5a23f48, 0x00e3ad36, 0x3ce08a10, 0x99a1186e,
        0x738fd81d, 0xd6ce4a63, 0xa23e2e0a, 0x077fbc74, 0xed517c07, 0x4810ee79, 0x04b1b4d5,
        0xa1f026ab, 0x4bdee6d8, 0xee9f74a6, 0x9a6f10cf, 0x3f2e82b1, 0xd50042c2, 0x7041d0bc,
        0xad060c8e, 0x08479ef0, 0xe2695e83, 0x4728ccfd, 0x33d8a894, 0x96993aea, 0x7cb7fa99,
        0xd9f668e7, 0x9557324b, 0x3016a035, 0xda386046, 0x7f79f238, 0x0b899651, 0xaec8042f,
        0x44e6c45c, 0xe1a75622, 0xdda47104, 0x78e5e37a, 0x92cb2309, 0x378ab177, 0x437ad51e,
        0xe63b4760, 0x0c158713, 0xa954156d, 0xe5f54fc1, 0x40b4ddbf, 0xaa9a1dcc, 0x0fdb8fb2,
        0x7b2bebdb, 0xde6a79a5, 0x3444b9d6, 0x91052ba8,
    },
    {
        0x00000000, 0xdd45aab8, 0xbf672381, 0x62228939, 0x7b2231f3, 0xa6679b4b, 0xc4451272,
        0x1900b8ca, 0xf64463e6, 0x2b01c95e, 0x49234067, 0x9466eadf, 0x8d665215, 0x5023f8ad,
        0x32017194, 0xef44db2c, 0xe964b13d, 0x34211b85, 0x560392bc, 0x8b463804, 0x924680ce,
        0x4f032a76, 0x2d21a34f, 0xf06409f7, 0x1f20d2db, 0xc2657863, 0xa047f15a, 0x7d025be2,
        0x6402e328, 0xb9474990, 0xdb65c0a9, 0x06206a11, 0xd725148b, 0x0a60be33, 0x6842370a,
        0xb5079db2, 0xac072578, 0x71428fc0, 0x136006f9, 0xce25ac41, 0x2161776d, 0xfc24ddd5,
        0x9e0654ec, 0x4343fe54, 0x5a43469e, 0x8706ec26, 0xe524651f, 0x3861cfa7, 0x3e41a5b6,
        0xe3040f0e, 0x81268637, 0x5c632c8f, 0x45639445, 0x98263efd, 0xfa04b7c4, 0x27411d7c,
        0xc805c650, 0x15406ce8, 0x7762e5d1, 0xaa274f69, 0xb327f7a3, 0x6e625d1b, 0x0c40d422,
        0xd1057e9a, 0xaba65fe7, 0x76e3f55f, 0x14c17c66, 0xc984d6de, 0xd0846e14, 0x0dc1c4ac,
        0x6fe34d95, 0xb2a6e72d, 0x5de23c01, 0x80a796b9, 0xe2851f80, 0x3fc0b538, 0x26c00df2,
        0xfb85a74a, 0x99a72e73, 0x44e284cb, 0x42c2eeda, 0x9f874462, 0xfda5cd5b, 0x20e067e3,
        0x39e0df29, 0xe4a57591, 0x8687fca8, 0x5bc25610, 0xb4868d3c, 0x69c32784, 0x0be1aebd,
        0xd6a40405, 0xcfa4bccf, 0x12e11677, 0x70c39f4e, 0xad8635f6, 0x7c834b6c, 0xa1c6e1d4,
        0xc3e468ed, 0x1ea1c255, 0x07a17a9f, 0xdae4d027, 0xb8c6591e, 0x6583f3a6, 0x8ac7288a,
        0x57828232, 0x35a00b0b, 0xe8e5a1b3, 0xf1e51979, 0x2ca0b3c1, 0x4e823af8, 0x93c79040,
        0x95e7fa51, 0x48a250e9, 0x2a80d9d0, 0xf7c57368, 0xeec5cba2, 0x3380611a, 0x51a2e823,
        0x8ce7429b, 0x63a399b7, 0xbee6330f, 0xdcc4ba36, 0x0181108e, 0x1881a844, 0xc5c402fc,
        0xa7e68bc5, 0x7aa3217d, 0x52a0c93f, 0x8fe56387, 0xedc7eabe, 0x30824006, 0x2982f8cc,
        0xf4c75274, 0x96e5db4d, 0x4ba071f5, 0xa4e4aad9, 0x79a10061, 0x1b838958, 0xc6c623e0,
        0xdfc69b2a, 0x02833192, 0x60a1b8ab, 0xbde41213, 0xbbc47802, 0x6681d2ba, 0x04a35b83,
        0xd9e6f13b, 0xc0e649f1, 0x1da3e349, 0x7f816a70, 0xa2c4c0c8, 0x4d801be4, 0x90c5b15c,
        0xf2e73865, 0x2fa292dd, 0x36a22a17, 0xebe780af, 0x89c50996, 0x5480a32e, 0x8585ddb4,
        0x58c0770c, 0x3ae2fe35, 0xe7a7548d, 0xfea7ec47, 0x23e246ff, 0x41c0cfc6, 0x9c85657e,
        0x73c1be52, 0xae8414ea, 0xcca69dd3, 0x11e3376b, 0x08e38fa1, 0xd5a62519, 0xb784ac20,
        0x6ac10698, 0x6ce16c89, 0xb1a4c631, 0xd3864f08, 0x0ec3e5b0, 0x17c35d7a, 0xca86f7c2,
        0xa8a47efb, 0x75e1d443, 0x9aa50f6f, 0x47e0a5d7, 0x25c22cee, 0xf8878656, 0xe1873e9c,
        0x3cc29424, 0x5ee01d1d, 0x83a5b7a5, 0xf90696d8, 0x24433c60, 0x4661b559, 0x9b241fe1,
        0x8224a72b, 0x5f610d93, 0x3d4384aa, 0xe0062e12, 0x0f42f53e, 0xd2075f86, 0xb025d6bf,
        0x6d607c07, 0x7460c4cd, 0xa9256e75, 0xcb07e74c, 0x16424df4, 0x106227e5, 0xcd278d5d,
        0xaf050464, 0x7240aedc, 0x6b401616, 0xb605bcae, 0xd4273597, 0x09629f2f, 0xe6264403,
        0x3b63eebb, 0x59416782, 0x8404cd3a, 0x9d0475f0, 0x4041df48, 0x22635671, 0xff26fcc9,
        0x2e238253, 0xf36628eb, 0x9144a1d2, 0x4c010b6a, 0x5501b3a0, 0x88441918, 0xea669021,
        0x37233a99, 0xd867e1b5, 0x05224b0d, 0x6700c234, 0xba45688c, 0xa345d046, 0x7e007afe,
        0x1c22f3c7, 0xc167597f, 0xc747336e, 0x1a0299d6, 0x782010ef, 0xa565ba57, 0xbc65029d,
        0x6120a825, 0x0302211c, 0xde478ba4, 0x31035088, 0xec46fa30, 0x8e647309, 0x5321d9b1,
        0x4a21617b, 0x9764cbc3, 0xf54642fa, 0x2803e842,
    },
    {
        0x00000000, 0x38116fac, 0x7022df58, 0x4833b0f4, 0xe045beb0, 0xd854d11c, 0x906761e8,
        0xa8760e44, 0xc5670b91, 0xfd76643d, 0xb545d4c9, 0x8d54bb65, 0x2522b521, 0x1d33da8d,
        0x55006a79, 0x6d1105d5, 0x8f2261d3, 0xb7330e7f, 0xff00be8b, 0xc711d127, 0x6f67df63,
        0x5776b0cf, 0x1f45003b, 0x27546f97, 0x4a456a42, 0x725405ee, 0x3a67b51a, 0x0276dab6,
        0xaa00d4f2, 0x9211bb5e, 0xda220baa, 0xe2336406, 0x1ba8b557, 0x23b9dafb, 0x6b8a6a0f,
        0x539b05a3, 0xfbed0be7, 0xc3fc644b, 0x8bcfd4bf, 0xb3debb13, 0xdecfbec6, 0xe6ded16a,
        0xaeed619e, 0x96fc0e32, 0x3e8a0076, 0x069b6fda, 0x4ea8df2e, 0x76b9b082, 0x948ad484,
        0xac9bbb28, 0xe4a80bdc, 0xdcb96470, 0x74cf6a34, 0x4cde0598, 0x04edb56c, 0x3cfcdac0,
        0x51eddf15, 0x69fcb0b9, 0x21cf004d, 0x19de6fe1, 0xb1a861a5, 0x89b90e09, 0xc18abefd,
        0xf99bd151, 0x37516aae, 0x0f400502, 0x4773b5f6, 0x7f62da5a, 0xd714d41e, 0xef05bbb2,
        0xa7360b46, 0x9f2764ea, 0xf236613f, 0xca270e93, 0x8214be67, 0xba05d1cb, 0x1273df8f,
        0x2a62b023, 0x625100d7, 0x5a406f7b, 0xb8730b7d, 0x806264d1, 0xc851d425, 0xf040bb89,
        0x5836b5cd, 0x6027da61, 0x28146a95, 0x10050539, 0x7d1400ec, 0x45056f40, 0x0d36dfb4,
        0x3527b018, 0x9d51be5c, 0xa540d1f0, 0xed736104, 0xd5620ea8, 0x2cf9dff9, 0x14e8b055,
        0x5cdb00a1, 0x64ca6f0d, 0xccbc6149, 0xf4ad0ee5, 0xbc9ebe11, 0x848fd1bd, 0xe99ed468,
        0xd18fbbc4, 0x99bc0b30, 0xa1ad649c, 0x09db6ad8, 0x31ca0574, 0x79f9b580, 0x41e8da2c,
        0xa3dbbe2a, 0x9bcad186, 0xd3f96172, 0xebe80ede, 0x439e009a, 0x7b8f6f36, 0x33bcdfc2,
        0x0badb06e, 0x66bcb5bb, 0x5eadda17, 0x169e6ae3, 0x2e8f054f, 0x86f90b0b, 0xbee864a7,
        0xf6dbd453, 0xcecabbff, 0x6ea2d55c, 0x56b3baf0, 0x1e800a04, 0x269165a8, 0x8ee76bec,
        0xb6f60440, 0xfec5b4b4, 0xc6d4db18, 0xabc5decd, 0x93d4b161, 0xdbe70195, 0xe3f66e39,
        0x4b80607d, 0x73910fd1, 0x3ba2bf25, 0x03b3d089, 0xe180b48f, 0xd991db23, 0x91a26bd7,
        0xa9b3047b, 0x01c50a3f, 0x39d46593, 0x71e7d567, 0x49f6bacb, 0x24e7bf1e, 0x1cf6d0b2,
        0x54c56046, 0x6cd40fea, 0xc4a201ae, 0xfcb36e02, 0xb480def6, 0x8c91b15a, 0x750a600b,
        0x4d1b0fa7, 0x0528bf53, 0x3d39d0ff, 0x954fdebb, 0xad5eb117, 0xe56d01e3, 0xdd7c6e4f,
        0xb06d6b9a, 0x887c0436, 0xc04fb4c2, 0xf85edb6e, 0x5028d52a, 0x6839ba86, 0x200a0a72,
        0x181b65de, 0xfa2801d8, 0xc2396e74, 0x8a0ade80, 0xb21bb12c, 0x1a6dbf68, 0x227cd0c4,
        0x6a4f6030, 0x525e0f9c, 0x3f4f0a49, 0x075e65e5, 0x4f6dd511, 0x777cbabd, 0xdf0ab4f9,
        0xe71bdb55, 0xaf286ba1, 0x9739040d, 0x59f3bff2, 0x61e2d05e, 0x29d160aa, 0x11c00f06,
        0xb9b60142, 0x81a76eee, 0xc994de1a, 0xf185b1b6, 0x9c94b463, 0xa485dbcf, 0xecb66b3b,
        0xd4a70497, 0x7cd10ad3, 0x44c0657f, 0x0cf3d58b, 0x34e2ba27, 0xd6d1de21, 0xeec0b18d,
        0xa6f30179, 0x9ee26ed5, 0x36946091, 0x0e850f3d, 0x46b6bfc9, 0x7ea7d065, 0x13b6d5b0,
        0x2ba7ba1c, 0x63940ae8, 0x5b856544, 0xf3f36b00, 0xcbe204ac, 0x83d1b458, 0xbbc0dbf4,
        0x425b0aa5, 0x7a4a6509, 0x3279d5fd, 0x0a68ba51, 0xa21eb415, 0x9a0fdbb9, 0xd23c6b4d,
        0xea2d04e1, 0x873c0134, 0xbf2d6e98, 0xf71ede6c, 0xcf0fb1c0, 0x6779bf84, 0x5f68d028,
        0x175b60dc, 0x2f4a0f70, 0xcd796b76, 0xf56804da, 0xbd5bb42e, 0x854adb82, 0x2d3cd5c6,
        0x152dba6a, 0x5d1e0a9e, 0x650f6532, 0x081e60e7, 0x300f0f4b, 0x783cbfbf, 0x402dd013,
        0xe85bde57, 0xd04ab1fb, 0x9879010f, 0xa0686ea3,
    },
    {
        0x00000000, 0xef306b19, 0xdb8ca0c3, 0x34bccbda, 0xb2f53777, 0x5dc55c6e, 0x697997b4,
        0x8649fcad, 0x6006181f, 0x8f367306, 0xbb8ab8dc, 0x54bad3c5, 0xd2f32f68, 0x3dc34471,
        0x097f8fab, 0xe64fe4b2, 0xc00c303e, 0x2f3c5b27, 0x1b8090fd, 0xf4b0fbe4, 0x72f90749,
        0x9dc96c50, 0xa975a78a, 0x4645cc93, 0xa00a2821, 0x4f3a4338, 0x7b8688e2, 0x94b6e3fb,
        0x12ff1f56, 0xfdcf744f, 0xc973bf95, 0x2643d48c, 0x85f4168d, 0x6ac47d94, 0x5e78b64e,
        0xb148dd57, 0x370121fa, 0xd8314ae3, 0xec8d8139, 0x03bdea20, 0xe5f20e92, 0x0ac2658b,
        0x3e7eae51, 0xd14ec548, 0x570739e5, 0xb83752fc, 0x8c8b9926, 0x63bbf23f, 0x45f826b3,
        0xaac84daa, 0x9e748670, 0x7144ed69, 0xf70d11c4, 0x183d7add, 0x2c81b107, 0xc3b1da1e,
        0x25fe3eac, 0xcace55b5, 0xfe729e6f, 0x1142f576, 0x970b09db, 0x783b62c2, 0x4c87a918,
        0xa3b7c201, 0x0e045beb, 0xe13430f2, 0xd588fb28, 0x3ab89031, 0xbcf16c9c, 0x53c10785,
        0x677dcc5f, 0x884da746, 0x6e0243f4, 0x813228ed, 0xb58ee337, 0x5abe882e, 0xdcf77483,
        0x33c71f9a, 0x077bd440, 0xe84bbf59, 0xce086bd5, 0x213800cc, 0x1584cb16, 0xfab4a00f,
        0x7cfd5ca2, 0x93cd37bb, 0xa771fc61, 0x48419778, 0xae0e73ca, 0x413e18d3, 0x7582d309,
        0x9ab2b810, 0x1cfb44bd, 0xf3cb2fa4, 0xc777e47e, 0x28478f67, 0x8bf04d66, 0x64c0267f,
        0x507ceda5, 0xbf4c86bc, 0x39057a11, 0xd6351108, 0xe289dad2, 0x0db9b1cb, 0xebf65579,
        0x04c63e60, 0x307af5ba, 0xdf4a9ea3, 0x5903620e, 0xb6330917, 0x828fc2cd, 0x6dbfa9d4,
        0x4bfc7d58, 0xa4cc1641, 0x9070dd9b, 0x7f40b682, 0xf9094a2f, 0x16392136, 0x2285eaec,
        0xcdb581f5, 0x2bfa6547, 0xc4ca0e5e, 0xf076c584, 0x1f46ae9d, 0x990f5230, 0x763f3929,
        0x4283f2f3, 0xadb399ea, 0x1c08b7d6, 0xf338dccf, 0xc7841715, 0x28b47c0c, 0xaefd80a1,
        0x41cdebb8, 0x75712062, 0x9a414b7b, 0x7c0eafc9, 0x933ec4d0, 0xa7820f0a, 0x48b26413,
        0xcefb98be, 0x21cbf3a7, 0x1577387d, 0xfa475364, 0xdc0487e8, 0x3334ecf1, 0x0788272b,
        0xe8b84c32, 0x6ef1b09f, 0x81c1db86, 0xb57d105c, 0x5a4d7b45, 0xbc029ff7, 0x5332f4ee,
        0x678e3f34, 0x88be542d, 0x0ef7a880, 0xe1c7c399, 0xd57b0843, 0x3a4b635a, 0x99fca15b,
        0x76ccca42, 0x42700198, 0xad406a81, 0x2b09962c, 0xc439fd35, 0xf08536ef, 0x1fb55df6,
        0xf9fab944, 0x16cad25d, 0x22761987, 0xcd46729e, 0x4b0f8e33, 0xa43fe52a, 0x90832ef0,
        0x7fb345e9, 0x59f09165, 0xb6c0fa7c, 0x827c31a6, 0x6d4c5abf, 0xeb05a612, 0x0435cd0b,
        0x308906d1, 0xdfb96dc8, 0x39f6897a, 0xd6c6e263, 0xe27a29b9, 0x0d4a42a0, 0x8b03be0d,
        0x6433d514, 0x508f1ece, 0xbfbf75d7, 0x120cec3d, 0xfd3c8724, 0xc9804cfe, 0x26b027e7,
        0xa0f9db4a, 0x4fc9b053, 0x7b757b89, 0x94451090, 0x720af422, 0x9d3a9f3b, 0xa98654e1,
        0x46b63ff8, 0xc0ffc355, 0x2fcfa84c, 0x1b736396, 0xf443088f, 0xd200dc03, 0x3d30b71a,
        0x098c7cc0, 0xe6bc17d9, 0x60f5eb74, 0x8fc5806d, 0xbb794bb7, 0x544920ae, 0xb206c41c,
        0x5d36af05, 0x698a64df, 0x86ba0fc6, 0x00f3f36b, 0xefc39872, 0xdb7f53a8, 0x344f38b1,
        0x97f8fab0, 0x78c891a9, 0x4c745a73, 0xa344316a, 0x250dcdc7, 0xca3da6de, 0xfe816d04,
        0x11b1061d, 0xf7fee2af, 0x18ce89b6, 0x2c72426c, 0xc3422975, 0x450bd5d8, 0xaa3bbec1,
        0x9e87751b, 0x71b71e02, 0x57f4ca8e, 0xb8c4a197, 0x8c786a4d, 0x63480154, 0xe501fdf9,
        0x0a3196e0, 0x3e8d5d3a, 0xd1bd3623, 0x37f2d291, 0xd8c2b988, 0xec7e7252, 0x034e194b,
        0x8507e5e6, 0x6a378eff, 0x5e8b4525, 0xb1bb2e3c,
    },
    {
        0x00000000, 0x68032cc8, 0xd0065990, 0xb8057558, 0xa5e0c5d1, 0xcde3e919, 0x75e69c41,
        0x1de5b089, 0x4e2dfd53, 0x262ed19b, 0x9e2ba4c3, 0xf628880b, 0xebcd3882, 0x83ce144a,
        0x3bcb6112, 0x53c84dda, 0x9c5bfaa6, 0xf458d66e, 0x4c5da336, 0x245e8ffe, 0x39bb3f77,
        0x51b813bf, 0xe9bd66e7, 0x81be4a2f, 0xd27607f5, 0xba752b3d, 0x02705e65, 0x6a7372ad,
        0x7796c224, 0x1f95eeec, 0xa7909bb4, 0xcf93b77c, 0x3d5b83bd, 0x5558af75, 0xed5dda2d,
        0x855ef6e5, 0x98bb466c, 0xf0b86aa4, 0x48bd1ffc, 0x20be3334, 0x73767eee, 0x1b755226,
        0xa370277e, 0xcb730bb6, 0xd696bb3f, 0xbe9597f7, 0x0690e2af, 0x6e93ce67, 0xa100791b,
        0xc90355d3, 0x7106208b, 0x19050c43, 0x04e0bcca, 0x6ce39002, 0xd4e6e55a, 0xbce5c992,
        0xef2d8448, 0x872ea880, 0x3f2bddd8, 0x5728f110, 0x4acd4199, 0x22ce6d51, 0x9acb1809,
        0xf2c834c1, 0x7ab7077a, 0x12b42bb2, 0xaab15eea, 0xc2b27222, 0xdf57c2ab, 0xb754ee63,
        0x0f519b3b, 0x6752b7f3, 0x349afa29, 0x5c99d6e1, 0xe49ca3b9, 0x8c9f8f71, 0x917a3ff8,
        0xf9791330, 0x417c6668, 0x297f4aa0, 0xe6ecfddc, 0x8eefd114, 0x36eaa44c, 0x5ee98884,
        0x430c380d, 0x2b0f14c5, 0x930a619d, 0xfb094d55, 0xa8c1008f, 0xc0c22c47, 0x78c7591f,
        0x10c475d7, 0x0d21c55e, 0x6522e996, 0xdd279cce, 0xb524b006, 0x47ec84c7, 0x2fefa80f,
        0x97eadd57, 0xffe9f19f, 0xe20c4116, 0x8a0f6dde, 0x320a1886, 0x5a09344e, 0x09c17994,
        0x61c2555c, 0xd9c72004, 0xb1c40ccc, 0xac21bc45, 0xc422908d, 0x7c27e5d5, 0x1424c91d,
        0xdbb77e61, 0xb3b452a9, 0x0bb127f1, 0x63b20b39, 0x7e57bbb0, 0x16549778, 0xae51e220,
        0xc652cee8, 0x959a8332, 0xfd99affa, 0x459cdaa2, 0x2d9ff66a, 0x307a46e3, 0x58796a2b,
        0xe07c1f73, 0x887f33bb, 0xf56e0ef4, 0x9d6d223c, 0x25685764, 0x4d6b7bac, 0x508ecb25,
        0x388de7ed, 0x808892b5, 0xe88bbe7d, 0xbb43f3a7, 0xd340df6f, 0x6b45aa37, 0x034686ff,
        0x1ea33676, 0x76a01abe, 0xcea56fe6, 0xa6a6432e, 0x6935f452, 0x0136d89a, 0xb933adc2,
        0xd130810a, 0xccd53183, 0xa4d61d4b, 0x1cd36813, 0x74d044db, 0x27180901, 0x4f1b25c9,
        0xf71e5091, 0x9f1d7c59, 0x82f8ccd0, 0xeafbe018, 0x52fe9540, 0x3afdb988, 0xc8358d49,
        0xa036a181, 0x1833d4d9, 0x7030f811, 0x6dd54898, 0x05d66450, 0xbdd31108, 0xd5d03dc0,
        0x8618701a, 0xee1b5cd2, 0x561e298a, 0x3e1d0542, 0x23f8b5cb, 0x4bfb9903, 0xf3feec5b,
        0x9bfdc093, 0x546e77ef, 0x3c6d5b27, 0x84682e7f, 0xec6b02b7, 0xf18eb23e, 0x998d9ef6,
        0x2188ebae, 0x498bc766, 0x1a438abc, 0x7240a674, 0xca45d32c, 0xa246ffe4, 0xbfa34f6d,
        0xd7a063a5, 0x6fa516fd, 0x07a63a35, 0x8fd9098e, 0xe7da2546, 0x5fdf501e, 0x37dc7cd6,
        0x2a39cc5f, 0x423ae097, 0xfa3f95cf, 0x923cb907, 0xc1f4f4dd, 0xa9f7d815, 0x11f2ad4d,
        0x79f18185, 0x6414310c, 0x0c171dc4, 0xb412689c, 0xdc114454, 0x1382f328, 0x7b81dfe0,
        0xc384aab8, 0xab878670, 0xb66236f9, 0xde611a31, 0x66646f69, 0x0e6743a1, 0x5daf0e7b,
        0x35ac22b3, 0x8da957eb, 0xe5aa7b23, 0xf84fcbaa, 0x904ce762, 0x2849923a, 0x404abef2,
        0xb2828a33, 0xda81a6fb, 0x6284d3a3, 0x0a87ff6b, 0x17624fe2, 0x7f61632a, 0xc7641672,
        0xaf673aba, 0xfcaf7760, 0x94ac5ba8, 0x2ca92ef0, 0x44aa0238, 0x594fb2b1, 0x314c9e79,
        0x8949eb21, 0xe14ac7e9, 0x2ed97095, 0x46da5c5d, 0xfedf2905, 0x96dc05cd, 0x8b39b544,
        0xe33a998c, 0x5b3fecd4, 0x333cc01c, 0x60f48dc6, 0x08f7a10e, 0xb0f2d456, 0xd8f1f89e,
        0xc5144817, 0xad1764df, 0x15121187, 0x7d113d4f,
    },
    {
        0x00000000, 0x493c7d27, 0x9278fa4e, 0xdb448769, 0x211d826d, 0x6821ff4a, 0xb3657823,
        0xfa590504, 0x423b04da, 0x0b0779fd, 0xd043fe94, 0x997f83b3, 0x632686b7, 0x2a1afb90,
        0xf15e7cf9, 0xb86201de, 0x847609b4, 0xcd4a7493, 0x160ef3fa, 0x5f328edd, 0xa56b8bd9,
        0xec57f6fe, 0x37137197, 0x7e2f0cb0, 0xc64d0d6e, 0x8f717049, 0x5435f720, 0x1d098a07,
        0xe7508f03, 0xae6cf224, 0x7528754d, 0x3c14086a, 0x0d006599, 0x443c18be, 0x9f789fd7,
        0xd644e2f0, 0x2c1de7f4, 0x65219ad3, 0xbe651dba, 0xf759609d, 0x4f3b6143, 0x06071c64,
        0xdd439b0d, 0x947fe62a, 0x6e26e32e, 0x271a9e09, 0xfc5e1960, 0xb5626447, 0x89766c2d,
        0xc04a110a, 0x1b0e9663, 0x5232eb44, 0xa86bee40, 0xe1579367, 0x3a13140e, 0x732f6929,
        0xcb4d68f7, 0x827115d0, 0x593592b9, 0x1009ef9e, 0xea50ea9a, 0xa36c97bd, 0x782810d4,
        0x31146df3, 0x1a00cb32, 0x533cb615, 0x8878317c, 0xc1444c5b, 0x3b1d495f, 0x72213478,
        0xa965b311, 0xe059ce36, 0x583bcfe8, 0x1107b2cf, 0xca4335a6, 0x837f4881, 0x79264d85,
        0x301a30a2, 0xeb5eb7cb, 0xa262caec, 0x9e76c286, 0xd74abfa1, 0x0c0e38c8, 0x453245ef,
        0xbf6b40eb, 0xf6573dcc, 0x2d13baa5, 0x642fc782, 0xdc4dc65c, 0x9571bb7b, 0x4e353c12,
        0x07094135, 0xfd504431, 0xb46c3916, 0x6f28be7f, 0x2614c358, 0x1700aeab, 0x5e3cd38c,
        0x857854e5, 0xcc4429c2, 0x361d2cc6, 0x7f2151e1, 0xa465d688, 0xed59abaf, 0x553baa71,
        0x1c07d756, 0xc743503f, 0x8e7f2d18, 0x7426281c, 0x3d1a553b, 0xe65ed252, 0xaf62af75,
        0x9376a71f, 0xda4ada38, 0x010e5d51, 0x48322076, 0xb26b2572, 0xfb575855, 0x2013df3c,
        0x692fa21b, 0xd14da3c5, 0x9871dee2, 0x4335598b, 0x0a0924ac, 0xf05021a8, 0xb96c5c8f,
        0x6228dbe6, 0x2b14a6c1, 0x34019664, 0x7d3deb43, 0xa6796c2a, 0xef45110d, 0x151c1409,
        0x5c20692e, 0x8764ee47, 0xce589360, 0x763a92be, 0x3f06ef99, 0xe44268f0, 0xad7e15d7,
        0x572710d3, 0x1e1b6df4, 0xc55fea9d, 0x8c6397ba, 0xb0779fd0, 0xf94be2f7, 0x220f659e,
        0x6b3318b9, 0x916a1dbd, 0xd856609a, 0x0312e7f3, 0x4a2e9ad4, 0xf24c9b0a, 0xbb70e62d,
        0x60346144, 0x29081c63, 0xd3511967, 0x9a6d6440, 0x4129e329, 0x08159e0e, 0x3901f3fd,
        0x703d8eda, 0xab7909b3, 0xe2457494, 0x181c7190, 0x51200cb7, 0x8a648bde, 0xc358f6f9,
        0x7b3af727, 0x32068a00, 0xe9420d69, 0xa07e704e, 0x5a27754a, 0x131b086d, 0xc85f8f04,
        0x8163f223, 0xbd77fa49, 0xf44b876e, 0x2f0f0007, 0x66337d20, 0x9c6a7824, 0xd5560503,
        0x0e12826a, 0x472eff4d, 0xff4cfe93, 0xb67083b4, 0x6d3404dd, 0x240879fa, 0xde517cfe,
        0x976d01d9, 0x4c2986b0, 0x0515fb97, 0x2e015d56, 0x673d2071, 0xbc79a718, 0xf545da3f,
        0x0f1cdf3b, 0x4620a21c, 0x9d642575, 0xd4585852, 0x6c3a598c, 0x250624ab, 0xfe42a3c2,
        0xb77edee5, 0x4d27dbe1, 0x041ba6c6, 0xdf5f21af, 0x96635c88, 0xaa7754e2, 0xe34b29c5,
        0x380faeac, 0x7133d38b, 0x8b6ad68f, 0xc256aba8, 0x19122cc1, 0x502e51e6, 0xe84c5038,
        0xa1702d1f, 0x7a34aa76, 0x3308d751, 0xc951d255, 0x806daf72, 0x5b29281b, 0x1215553c,
        0x230138cf, 0x6a3d45e8, 0xb179c281, 0xf845bfa6, 0x021cbaa2, 0x4b20c785, 0x906440ec,
        0xd9583dcb, 0x613a3c15, 0x28064132, 0xf342c65b, 0xba7ebb7c, 0x4027be78, 0x091bc35f,
        0xd25f4436, 0x9b633911, 0xa777317b, 0xee4b4c5c, 0x350fcb35, 0x7c33b612, 0x866ab316,
        0xcf56ce31, 0x14124958, 0x5d2e347f, 0xe54c35a1, 0xac704886, 0x7734cfef, 0x3e08b2c8,
        0xc451b7cc, 0x8d6dcaeb, 0x56294d82, 0x1f1530a5,
    },
};

uint32_t kp_privlog_crc32c_portable(uint32_t crc, const void *data, size_t size)
{
    const uint8_t *p = data;
    crc = ~crc;
    while (size && ((uintptr_t)p & 7)) {
        crc = s_crc_table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
        size--;
    }
    while (size >= 8) {
        uint32_t lo = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                             (uint32_t)p[3] << 24);
        uint32_t hi =
            (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 | (uint32_t)p[7] << 24;
        crc = s_crc_table[7][lo & 0xff] ^ s_crc_table[6][(lo >> 8) & 0xff] ^
              s_crc_table[5][(lo >> 16) & 0xff] ^ s_crc_table[4][lo >> 24] ^
              s_crc_table[3][hi & 0xff] ^ s_crc_table[2][(hi >> 8) & 0xff] ^
              s_crc_table[1][(hi >> 16) & 0xff] ^ s_crc_table[0][hi >> 24];
        p += 8;
        size -= 8;
    }
    while (size--)
        crc = s_crc_table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return ~crc;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
//  The CPU's own CRC32C instruction (SSE4.2): about ten times the tables'
//  speed, which is what a restart spends its time on (every frame of the
//  open segment is checked before the node answers) and verify and the
//  indexer too.
__attribute__((target("sse4.2"))) static uint32_t s_crc32c_sse42(uint32_t crc, const void *data,
                                                                 size_t size)
{
    const uint8_t *p = data;
    uint64_t c = ~crc;
    while (size && ((uintptr_t)p & 7)) {
        c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
        size--;
    }
    while (size >= 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        c = __builtin_ia32_crc32di(c, word);
        p += 8;
        size -= 8;
    }
    while (size--)
        c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
    return ~(uint32_t)c;
}
#endif

uint32_t kp_privlog_crc32c(uint32_t crc, const void *data, size_t size)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (__builtin_cpu_supports("sse4.2"))
        return s_crc32c_sse42(crc, data, size);
#endif
    return kp_privlog_crc32c_portable(crc, data, size);
}

// ---------------------------------------------------------------------------
// Little helpers

static void s_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++, v >>= 8)
        p[i] = (uint8_t)v;
}

static void s_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++, v >>= 8)
        p[i] = (uint8_t)v;
}

static uint32_t s_get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t s_get64(const uint8_t *p)
{
    return (uint64_t)s_get32(p) | (uint64_t)s_get32(p + 4) << 32;
}

static uint64_t s_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int32_t s_day_of(uint64_t time_us)
{
    return (int32_t)(time_us / 1000000u / 86400u);
}

static void s_day_text(int32_t day, char out[9])
{
    time_t t = (time_t)day * 86400;
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(out, 9, "%04d%02d%02d", (tm.tm_year + 1900) % 10000, tm.tm_mon + 1, tm.tm_mday);
}

static int s_fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

static int s_write_all(int fd, const uint8_t *data, size_t size)
{
    while (size) {
        ssize_t n = write(fd, data, size);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        data += n;
        size -= (size_t)n;
    }
    return 0;
}

//  Segments are written at an offset: a preallocated file is longer than
//  its data, so O_APPEND would write past the zeros.
static int s_pwrite_all(int fd, const uint8_t *data, size_t size, uint64_t offset)
{
    while (size) {
        ssize_t n = pwrite(fd, data, size, (off_t)offset);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        data += n;
        size -= (size_t)n;
        offset += (uint64_t)n;
    }
    return 0;
}

//  Zeros to compare with and to write ahead of the appends.
static const uint8_t s_zeros[64 * 1024];

static bool s_zero(const uint8_t *p, size_t size)
{
    while (size) {
        size_t k = size < sizeof s_zeros ? size : sizeof s_zeros;
        if (memcmp(p, s_zeros, k))
            return false;
        p += k;
        size -= k;
    }
    return true;
}

//  Where the bytes of data[from..size) end: the offset after the last one
//  that is not zero, or from. Reads forward, a page at a time: the tail
//  of a segment left open by a crash is tens of megabytes of zeros, and
//  read backwards a byte at a time it defeated readahead and took most of
//  a second of every restart.
static size_t s_data_end(const uint8_t *data, size_t from, size_t size)
{
    size_t end = from;
    for (size_t at = from; at < size;) {
        size_t k = size - at < 4096 ? size - at : 4096;
        if (!s_zero(data + at, k))
            end = at + k;
        at += k;
    }
    while (end > from && !data[end - 1])
        end--;
    return end;
}

static int s_flock(int fd, int how)
{
    int rc;
    while ((rc = flock(fd, how)) && errno == EINTR)
        ;
    return rc;
}

//  SHA-256(prev || kind || seq || body): the chain hash of a frame.
static void s_chain_hash(EVP_MD_CTX *ctx, const EVP_MD *md, const uint8_t prev[32], uint8_t kind,
                         uint64_t seq, const uint8_t *body, size_t len, uint8_t out[32])
{
    uint8_t head[9];
    head[0] = kind;
    s_le64(head + 1, seq);
    unsigned int n = 32;
    EVP_DigestInit_ex(ctx, md, NULL);
    EVP_DigestUpdate(ctx, prev, 32);
    EVP_DigestUpdate(ctx, head, 9);
    EVP_DigestUpdate(ctx, body, len);
    EVP_DigestFinal_ex(ctx, out, &n);
}

// ---------------------------------------------------------------------------
// Frames and segments as bytes

typedef struct {
    uint8_t kind;
    uint64_t seq;
    const uint8_t *hash;
    const uint8_t *body;
    uint32_t len;
} s_frame_t;

#define S_FRAME_OK 0
#define S_FRAME_SHORT 1 //  not enough bytes left: a cut frame
#define S_FRAME_BAD 2   //  CRC, kind or length wrong

//  What lies at an offset where no intact frame does.
#define S_END_CLEAN 0  //  zeros to the end of the file: the preallocated tail
#define S_END_TORN 1   //  a frame cut short, with only zeros (or nothing) behind
#define S_END_DAMAGE 2 //  neither: bytes were changed

static size_t s_frame_encode(uint8_t *out, uint8_t kind, uint64_t seq, const uint8_t hash[32],
                             const uint8_t *body, size_t len)
{
    s_le32(out, (uint32_t)len);
    out[8] = kind;
    s_le64(out + 9, seq);
    memcpy(out + 17, hash, 32);
    memcpy(out + KP_PRIVLOG_FRAME_HEADER, body, len);
    uint32_t crc = kp_privlog_crc32c(0, out, 4);
    crc = kp_privlog_crc32c(crc, out + 8, KP_PRIVLOG_FRAME_HEADER - 8 + len);
    s_le32(out + 4, crc);
    return KP_PRIVLOG_FRAME_HEADER + len;
}

static int s_frame_parse(const uint8_t *p, size_t avail, s_frame_t *frame)
{
    if (avail < KP_PRIVLOG_FRAME_HEADER)
        return S_FRAME_SHORT;
    uint32_t len = s_get32(p);
    if (len > KP_PRIVLOG_MAX_BODY)
        return S_FRAME_BAD;
    if (avail - KP_PRIVLOG_FRAME_HEADER < len)
        return S_FRAME_SHORT;
    uint32_t crc = kp_privlog_crc32c(0, p, 4);
    crc = kp_privlog_crc32c(crc, p + 8, KP_PRIVLOG_FRAME_HEADER - 8 + len);
    if (crc != s_get32(p + 4))
        return S_FRAME_BAD;
    frame->kind = p[8];
    if (frame->kind != KP_PRIVLOG_KIND_RECORD && frame->kind != KP_PRIVLOG_KIND_CHECKPOINT)
        return S_FRAME_BAD;
    frame->seq = s_get64(p + 9);
    frame->hash = p + 17;
    frame->body = p + KP_PRIVLOG_FRAME_HEADER;
    frame->len = len;
    return S_FRAME_OK;
}

//  A segment is preallocated (zeros) beyond its data, so the end of the
//  data is where a frame of zeros would start. A write in flight, or cut
//  by a crash, shows a frame whose claimed extent holds every non-zero
//  byte left; anything else behind the frame is damage.
static int s_end_kind(const uint8_t *data, size_t size, size_t off)
{
    size_t avail = size - off;
    if (s_zero(data + off, avail))
        return S_END_CLEAN;
    if (avail < KP_PRIVLOG_FRAME_HEADER)
        return S_END_TORN;
    uint32_t len = s_get32(data + off);
    if (len > KP_PRIVLOG_MAX_BODY)
        return S_END_DAMAGE;
    size_t end = off + KP_PRIVLOG_FRAME_HEADER + len;
    return end >= size || s_zero(data + end, size - end) ? S_END_TORN : S_END_DAMAGE;
}

static void s_header_encode(uint8_t out[KP_PRIVLOG_SEGMENT_HEADER], uint64_t first_seq, int32_t day,
                            const uint8_t prev[32])
{
    memset(out, 0, KP_PRIVLOG_SEGMENT_HEADER);
    memcpy(out, S_MAGIC, 8);
    s_le64(out + 8, first_seq);
    s_le32(out + 16, (uint32_t)day);
    memcpy(out + 24, prev, 32);
    s_le32(out + 60, kp_privlog_crc32c(0, out, 60));
}

//  A segment file mapped for reading. The mapping holds a shared flock on
//  the file: the writer shrinks a preallocated segment to its data when it
//  closes it, and only when no reader has it mapped (touching a page past
//  the end of a file raises SIGBUS).
typedef struct {
    uint8_t *data;
    size_t size;
    int fd;
    uint64_t first_seq;
    int32_t day;
    const uint8_t *prev_hash;
    bool header_ok;
} s_map_t;

static int s_segment_map(const char *dir, const char *name, s_map_t *map, char *error)
{
    char path[S_PATH];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    memset(map, 0, sizeof *map);
    map->fd = -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || s_flock(fd, LOCK_SH) || fstat(fd, &st)) {
        snprintf(error, KP_PRIVLOG_ERR, "cannot read segment %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    map->size = (size_t)st.st_size;
    if (map->size) {
        map->data = mmap(NULL, map->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map->data == MAP_FAILED) {
            snprintf(error, KP_PRIVLOG_ERR, "cannot map segment %s: %s", path, strerror(errno));
            close(fd);
            map->data = NULL;
            return -1;
        }
        madvise(map->data, map->size, MADV_SEQUENTIAL);
    }
    map->fd = fd; //  closing it drops the lock
    if (map->size >= KP_PRIVLOG_SEGMENT_HEADER && !memcmp(map->data, S_MAGIC, 8) &&
        s_get32(map->data + 60) == kp_privlog_crc32c(0, map->data, 60)) {
        map->header_ok = true;
        map->first_seq = s_get64(map->data + 8);
        map->day = (int32_t)s_get32(map->data + 16);
        map->prev_hash = map->data + 24;
    }
    return 0;
}

static void s_segment_unmap(s_map_t *map)
{
    if (map->data)
        munmap(map->data, map->size);
    map->data = NULL;
    if (map->fd >= 0)
        close(map->fd);
    map->fd = -1;
}

static int s_segment_cmp(const void *a, const void *b)
{
    const kp_privlog_segment_t *x = a, *y = b;
    return x->first_seq < y->first_seq ? -1 : x->first_seq > y->first_seq;
}

//  Parses "<20 digits>-<YYYYMMDD>.kplog"; other names are not segments.
static bool s_segment_name(const char *name, kp_privlog_segment_t *seg)
{
    if (strlen(name) != 35 || strcmp(name + 29, ".kplog") || name[20] != '-')
        return false;
    uint64_t seq = 0;
    for (int i = 0; i < 20; i++) {
        if (name[i] < '0' || name[i] > '9')
            return false;
        seq = seq * 10 + (uint64_t)(name[i] - '0');
    }
    int y, m, d;
    char tail;
    if (sscanf(name + 21, "%4d%2d%2d%c", &y, &m, &d, &tail) != 4 || tail != '.')
        return false;
    struct tm tm = {.tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = d};
    time_t t = timegm(&tm);
    snprintf(seg->name, sizeof seg->name, "%s", name);
    seg->first_seq = seq;
    seg->day = (int32_t)(t / 86400);
    return true;
}

int kp_privlog_segments(const char *dir, kp_privlog_segment_t **list, char *error)
{
    *list = NULL;
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(error, KP_PRIVLOG_ERR,
                 "cannot open log folder %s: %s (is --data the node's log folder?)", dir,
                 strerror(errno));
        return -1;
    }
    int count = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        kp_privlog_segment_t seg;
        if (!s_segment_name(e->d_name, &seg))
            continue;
        if (count == cap) {
            cap = cap ? cap * 2 : 64;
            kp_privlog_segment_t *more = realloc(*list, (size_t)cap * sizeof *more);
            if (!more) {
                closedir(d);
                free(*list);
                *list = NULL;
                snprintf(error, KP_PRIVLOG_ERR, "out of memory");
                return -1;
            }
            *list = more;
        }
        (*list)[count++] = seg;
    }
    closedir(d);
    if (count)
        qsort(*list, (size_t)count, sizeof **list, s_segment_cmp);
    return count;
}

// ---------------------------------------------------------------------------
// Keys and checkpoints

int kp_privlog_keygen(const char *path, char *error)
{
    char pub[S_PATH];
    snprintf(pub, sizeof pub, "%s.pub", path);
    EVP_PKEY *key = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
    if (!ctx || EVP_PKEY_keygen_init(ctx) <= 0 || EVP_PKEY_keygen(ctx, &key) <= 0) {
        EVP_PKEY_CTX_free(ctx);
        snprintf(error, KP_PRIVLOG_ERR, "cannot make an Ed25519 key (OpenSSL failed)");
        return -1;
    }
    EVP_PKEY_CTX_free(ctx);
    int rc = -1;
    FILE *f = NULL, *g = NULL;
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(error, KP_PRIVLOG_ERR, "cannot create %s: %s%s", path, strerror(errno),
                 errno == EEXIST ? " (remove it first, or choose another --out)" : "");
        goto done;
    }
    f = fdopen(fd, "w");
    int pfd = open(pub, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (pfd < 0) {
        snprintf(error, KP_PRIVLOG_ERR, "cannot create %s: %s%s", pub, strerror(errno),
                 errno == EEXIST ? " (remove it first, or choose another --out)" : "");
        fclose(f);
        unlink(path);
        f = NULL;
        goto done;
    }
    g = fdopen(pfd, "w");
    if (!f || !g || !PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) ||
        !PEM_write_PUBKEY(g, key) || fflush(f) || fflush(g) || fsync(fileno(f)) ||
        fsync(fileno(g))) {
        snprintf(error, KP_PRIVLOG_ERR, "cannot write the key files %s and %s", path, pub);
        unlink(path);
        unlink(pub);
        goto done;
    }
    rc = 0;
done:
    if (f)
        fclose(f);
    if (g)
        fclose(g);
    EVP_PKEY_free(key);
    return rc;
}

static EVP_PKEY *s_key_load(const char *path, bool private, char *error)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(error, KP_PRIVLOG_ERR,
                 "cannot read key %s: %s (make one with 'kpctl keys --out %s')", path,
                 strerror(errno), path);
        return NULL;
    }
    EVP_PKEY *key =
        private ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : PEM_read_PUBKEY(f, NULL, NULL, NULL);
    fclose(f);
    if (!key || EVP_PKEY_get_id(key) != EVP_PKEY_ED25519) {
        snprintf(error, KP_PRIVLOG_ERR,
                 "%s is not an Ed25519 %s key in PEM (make one with 'kpctl keys')", path,
                 private ? "private" : "public");
        EVP_PKEY_free(key);
        return NULL;
    }
    return key;
}

static void s_statement(uint8_t out[S_CP_STATEMENT], uint64_t seq, const uint8_t hash[32],
                        uint64_t time_us)
{
    memcpy(out, S_CP_MAGIC, 8);
    s_le64(out + 8, seq);
    memcpy(out + 16, hash, 32);
    s_le64(out + 48, time_us);
}

//  True if cp is well formed and its signature holds for key (or, with
//  key NULL, for the public key it carries).
static bool s_checkpoint_valid(const Kp__LogCheckpoint *cp, EVP_PKEY *key)
{
    if (!cp->has_seq || !cp->has_hash || cp->hash.len != 32 || !cp->has_signature ||
        !cp->has_public_key || cp->public_key.len != 32)
        return false;
    EVP_PKEY *own = NULL;
    if (!key) {
        own = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, cp->public_key.data, 32);
        if (!own)
            return false;
        key = own;
    }
    uint8_t msg[S_CP_STATEMENT];
    s_statement(msg, cp->seq, cp->hash.data, cp->time_unix_us);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = ctx && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, key) == 1 &&
              EVP_DigestVerify(ctx, cp->signature.data, cp->signature.len, msg, sizeof msg) == 1;
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(own);
    return ok;
}

//  Encodes a checkpoint frame for (seq, hash) into out (which must hold
//  KP_PRIVLOG_FRAME_HEADER + 256 bytes). Returns its size, or 0.
static size_t s_checkpoint_frame(EVP_PKEY *key, const uint8_t pub[32], uint64_t seq,
                                 const uint8_t hash[32], uint8_t *out)
{
    uint8_t msg[S_CP_STATEMENT], sig[64];
    uint64_t now = s_now_us();
    s_statement(msg, seq, hash, now);
    size_t siglen = sizeof sig;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = ctx && EVP_DigestSignInit(ctx, NULL, NULL, NULL, key) == 1 &&
              EVP_DigestSign(ctx, sig, &siglen, msg, sizeof msg) == 1;
    EVP_MD_CTX_free(ctx);
    if (!ok)
        return 0;
    Kp__LogCheckpoint cp = KP__LOG_CHECKPOINT__INIT;
    cp.has_seq = cp.has_hash = cp.has_time_unix_us = cp.has_public_key = cp.has_signature = 1;
    cp.seq = seq;
    cp.hash.data = (uint8_t *)hash;
    cp.hash.len = 32;
    cp.time_unix_us = now;
    cp.public_key.data = (uint8_t *)pub;
    cp.public_key.len = 32;
    cp.signature.data = sig;
    cp.signature.len = siglen;
    uint8_t body[256];
    size_t len = kp__log_checkpoint__get_packed_size(&cp);
    if (len > sizeof body)
        return 0;
    kp__log_checkpoint__pack(&cp, body);
    return s_frame_encode(out, KP_PRIVLOG_KIND_CHECKPOINT, seq, hash, body, len);
}

// ---------------------------------------------------------------------------
// The writer

typedef struct {
    uint64_t seq;
    size_t buf_off;    //  where its frame starts in the buffer
    uint64_t segment;  //  set by sync: the segment's first seq
    uint64_t file_off; //  set by sync: the frame's offset in the file
} s_entry_t;

struct _kp_privlog_t {
    char dir[S_PATH];
    kp_privlog_options_t options;
    int lock_fd;
    int seg_fd; //  -1 until the first sync makes a segment
    kp_privlog_segment_t seg;
    uint64_t seg_size;     //  its data
    bool seg_allocated;    //  preallocation tried (the file may be longer)
    uint64_t seg_zeroed;   //  bytes of it written, with data or zeros
    int closing_fd;        //  a closed segment still to be shrunk, or -1
    uint64_t closing_size; //  its data
    uint64_t seg_records;
    uint64_t last_seq; //  appended
    uint8_t last_hash[32];
    uint64_t durable_seq; //  synced
    uint8_t durable_hash[32];
    uint64_t uncovered;     //  appended records not under a checkpoint yet
    uint64_t checkpoint_us; //  when the last checkpoint was written
    bool checkpointed;      //  since the last index sync
    bool tail_checkpoint;   //  the segment ends with a checkpoint
    EVP_PKEY *key;
    uint8_t pub[32];
    EVP_MD *md;
    EVP_MD_CTX *md_ctx;
    uint8_t *buf; //  [0, synced) awaits the index; [synced, len) awaits sync
    size_t len, cap, synced;
    s_entry_t *entries; //  one per record in buf
    size_t n_entries, entries_cap, entries_synced;
    kp_logindex_t *index;
    bool failed;
    char error[KP_PRIVLOG_ERR];
};

void kp_privlog_options_default(kp_privlog_options_t *options)
{
    memset(options, 0, sizeof *options);
    options->segment_max = 64u << 20;
    options->checkpoint_every = 1000;
    options->checkpoint_secs = 10;
    options->index = true;
}

static int s_fail(kp_privlog_t *self, const char *what)
{
    snprintf(self->error, sizeof self->error, "privacy log %s: %s: %s", self->dir, what,
             strerror(errno));
    self->failed = true;
    return -1;
}

//  Scans the last segment: finds its end, cuts off a torn tail, and
//  restores seq, hash and checkpoint state from it. 1 if the segment was
//  only a cut header and has been removed; 0 ok; -1 error.
static int s_recover_last(kp_privlog_t *self, const kp_privlog_segment_t *seg,
                          kp_privlog_recovery_t *recovery, char *error)
{
    s_map_t map;
    if (s_segment_map(self->dir, seg->name, &map, error))
        return -1;
    char path[S_PATH];
    snprintf(path, sizeof path, "%s/%s", self->dir, seg->name);
    if (!map.header_ok || map.first_seq != seg->first_seq) {
        //  Cut, or preallocated with the header not yet on disk.
        bool cut = map.size < KP_PRIVLOG_SEGMENT_HEADER || s_zero(map.data, map.size);
        s_segment_unmap(&map);
        if (!cut) {
            snprintf(error, KP_PRIVLOG_ERR,
                     "segment %s has a damaged header: not a torn tail; run 'kpctl log verify'",
                     path);
            return -1;
        }
        //  A crash while the segment was being made: nothing in it.
        if (unlink(path) || s_fsync_dir(self->dir)) {
            snprintf(error, KP_PRIVLOG_ERR, "cannot remove cut segment %s: %s", path,
                     strerror(errno));
            return -1;
        }
        if (recovery) {
            recovery->torn = true;
            snprintf(recovery->segment, sizeof recovery->segment, "%s", seg->name);
            recovery->bytes_dropped += map.size < KP_PRIVLOG_SEGMENT_HEADER ? map.size : 0;
        }
        return 1;
    }
    self->seg = *seg;
    self->seg.day = map.day;
    memcpy(self->last_hash, map.prev_hash, 32);
    self->last_seq = map.first_seq - 1;
    size_t off = KP_PRIVLOG_SEGMENT_HEADER;
    while (off < map.size) {
        s_frame_t f;
        int rc = s_frame_parse(map.data + off, map.size - off, &f);
        if (rc == S_FRAME_BAD) {
            //  A bad frame followed by a good one is damage, not a cut.
            uint32_t len = s_get32(map.data + off);
            s_frame_t next;
            size_t after = off + KP_PRIVLOG_FRAME_HEADER + (size_t)len;
            if (len <= KP_PRIVLOG_MAX_BODY && after < map.size &&
                s_frame_parse(map.data + after, map.size - after, &next) == S_FRAME_OK) {
                snprintf(error, KP_PRIVLOG_ERR,
                         "segment %s: damaged record at offset %zu (after seq %llu) with intact "
                         "records behind it: not a torn tail; run 'kpctl log verify'",
                         path, off, (unsigned long long)self->last_seq);
                s_segment_unmap(&map);
                return -1;
            }
        }
        if (rc != S_FRAME_OK)
            break;
        if (f.kind == KP_PRIVLOG_KIND_RECORD) {
            if (f.seq != self->last_seq + 1) {
                snprintf(error, KP_PRIVLOG_ERR,
                         "segment %s: offset %zu holds seq %llu where %llu was due; run 'kpctl "
                         "log verify'",
                         path, off, (unsigned long long)f.seq,
                         (unsigned long long)self->last_seq + 1);
                s_segment_unmap(&map);
                return -1;
            }
            self->last_seq = f.seq;
            memcpy(self->last_hash, f.hash, 32);
            self->uncovered++;
            self->seg_records++;
            self->tail_checkpoint = false;
        } else {
            self->uncovered = 0;
            self->tail_checkpoint = true;
        }
        off += KP_PRIVLOG_FRAME_HEADER + f.len;
    }
    size_t size = map.size;
    //  Behind the data: the zeros of a preallocated segment (a crash left
    //  it open), perhaps with a cut record in front of them.
    size_t used = s_data_end(map.data, off, size);
    s_segment_unmap(&map);
    self->seg_fd = open(path, O_WRONLY | O_CLOEXEC);
    if (self->seg_fd < 0) {
        snprintf(error, KP_PRIVLOG_ERR, "cannot open segment %s: %s", path, strerror(errno));
        return -1;
    }
    //  Cut to the data (zeros too: the first sync preallocates again), so
    //  that index catch-up sees where the log ends.
    if (off < size) {
        if (s_flock(self->seg_fd, LOCK_EX) || ftruncate(self->seg_fd, (off_t)off) ||
            fsync(self->seg_fd) || s_flock(self->seg_fd, LOCK_UN)) {
            snprintf(error, KP_PRIVLOG_ERR, "cannot cut the torn tail of %s: %s", path,
                     strerror(errno));
            return -1;
        }
    }
    if (off < used) {
        if (recovery) {
            recovery->torn = true;
            snprintf(recovery->segment, sizeof recovery->segment, "%s", seg->name);
            recovery->offset = off;
            recovery->bytes_dropped += used - off;
        }
    }
    self->seg_size = off;
    return 0;
}

static int64_t s_catch_up(kp_logindex_t *index, const char *dir, uint64_t upto_seq, char *error);

kp_privlog_t *kp_privlog_open(const char *dir, const kp_privlog_options_t *options,
                              kp_privlog_recovery_t *recovery, char *error)
{
    if (recovery)
        memset(recovery, 0, sizeof *recovery);
    if (strlen(dir) > S_PATH - 64) {
        snprintf(error, KP_PRIVLOG_ERR, "log folder name too long: %s", dir);
        return NULL;
    }
    if (mkdir(dir, 0700) && errno != EEXIST) {
        snprintf(error, KP_PRIVLOG_ERR, "cannot make log folder %s: %s", dir, strerror(errno));
        return NULL;
    }
    kp_privlog_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(error, KP_PRIVLOG_ERR, "out of memory");
        return NULL;
    }
    snprintf(self->dir, sizeof self->dir, "%s", dir);
    kp_privlog_options_t defaults;
    kp_privlog_options_default(&defaults);
    self->options = options ? *options : defaults;
    self->options.key_file = NULL;
    if (!self->options.segment_max)
        self->options.segment_max = defaults.segment_max;
    if (!self->options.checkpoint_every)
        self->options.checkpoint_every = defaults.checkpoint_every;
    if (!self->options.checkpoint_secs)
        self->options.checkpoint_secs = defaults.checkpoint_secs;
    self->seg_fd = -1;
    self->closing_fd = -1;
    self->checkpoint_us = s_now_us();
    self->md = EVP_MD_fetch(NULL, "SHA256", NULL);
    self->md_ctx = EVP_MD_CTX_new();

    char path[S_PATH];
    snprintf(path, sizeof path, "%s/LOCK", dir);
    self->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (self->lock_fd < 0 || flock(self->lock_fd, LOCK_EX | LOCK_NB)) {
        snprintf(error, KP_PRIVLOG_ERR, "cannot lock %s: %s%s", path, strerror(errno),
                 errno == EWOULDBLOCK ? " (another node has this log open: stop it, or give each "
                                        "node its own data folder)"
                                      : "");
        goto fail;
    }
    if (!self->md || !self->md_ctx) {
        snprintf(error, KP_PRIVLOG_ERR, "OpenSSL has no SHA-256");
        goto fail;
    }
    if (options && options->key_file) {
        if (!(self->key = s_key_load(options->key_file, true, error)))
            goto fail;
        size_t n = 32;
        EVP_PKEY_get_raw_public_key(self->key, self->pub, &n);
    }
    kp_privlog_segment_t *segs;
    int n = kp_privlog_segments(dir, &segs, error);
    if (n < 0)
        goto fail;
    int rc = 1;
    while (n > 0 && rc == 1)
        rc = s_recover_last(self, &segs[--n], recovery, error);
    free(segs);
    if (rc < 0)
        goto fail;
    if (rc == 1) { //  no segment: a new log, or one whose every segment was cut
        self->last_seq = 0;
        memset(self->last_hash, 0, 32);
    }
    self->durable_seq = self->last_seq;
    memcpy(self->durable_hash, self->last_hash, 32);
    if (self->options.index) {
        snprintf(path, sizeof path, "%s/index", dir);
        self->index = kp_logindex_open(path, false, self->options.index_map_size, error);
        if (!self->index)
            goto fail;
        int64_t added = s_catch_up(self->index, dir, UINT64_MAX, error);
        if (added < 0)
            goto fail;
        if (recovery)
            recovery->indexed = (uint64_t)added;
    }
    return self;
fail:
    if (self->seg_fd >= 0)
        close(self->seg_fd);
    if (self->lock_fd >= 0)
        close(self->lock_fd);
    kp_logindex_destroy(&self->index);
    EVP_PKEY_free(self->key);
    EVP_MD_free(self->md);
    EVP_MD_CTX_free(self->md_ctx);
    free(self);
    return NULL;
}

static int s_reserve(kp_privlog_t *self, size_t more);

//  Every checkpoint_every records a signed checkpoint goes into the
//  buffer right behind the record, also inside one large group.
static void s_checkpoint_due(kp_privlog_t *self)
{
    if (!self->key || self->uncovered < self->options.checkpoint_every)
        return;
    if (s_reserve(self, KP_PRIVLOG_FRAME_HEADER + 256))
        return; //  sync will try again
    size_t n = s_checkpoint_frame(self->key, self->pub, self->last_seq, self->last_hash,
                                  self->buf + self->len);
    if (n) {
        self->len += n;
        self->uncovered = 0;
        self->checkpoint_us = s_now_us();
        self->checkpointed = true;
    }
}

static int s_reserve(kp_privlog_t *self, size_t more)
{
    if (self->len + more > self->cap) {
        size_t cap = self->cap ? self->cap : 1 << 16;
        while (cap < self->len + more)
            cap *= 2;
        uint8_t *buf = realloc(self->buf, cap);
        if (!buf)
            return -1;
        self->buf = buf;
        self->cap = cap;
    }
    if (self->n_entries == self->entries_cap) {
        size_t cap = self->entries_cap ? self->entries_cap * 2 : 1024;
        s_entry_t *e = realloc(self->entries, cap * sizeof *e);
        if (!e)
            return -1;
        self->entries = e;
        self->entries_cap = cap;
    }
    return 0;
}

uint64_t kp_privlog_append_packed(kp_privlog_t *self, const uint8_t *data, size_t size)
{
    if (self->failed || size > KP_PRIVLOG_MAX_BODY)
        return 0;
    if (s_reserve(self, KP_PRIVLOG_FRAME_HEADER + size)) {
        snprintf(self->error, sizeof self->error, "out of memory");
        return 0;
    }
    uint64_t seq = self->last_seq + 1;
    uint8_t hash[32];
    s_chain_hash(self->md_ctx, self->md, self->last_hash, KP_PRIVLOG_KIND_RECORD, seq, data, size,
                 hash);
    s_entry_t *e = &self->entries[self->n_entries++];
    e->seq = seq;
    e->buf_off = self->len;
    self->len +=
        s_frame_encode(self->buf + self->len, KP_PRIVLOG_KIND_RECORD, seq, hash, data, size);
    self->last_seq = seq;
    memcpy(self->last_hash, hash, 32);
    self->uncovered++;
    s_checkpoint_due(self);
    return seq;
}

uint64_t kp_privlog_append(kp_privlog_t *self, const Kp__LogRecord *record)
{
    size_t size = kp__log_record__get_packed_size(record);
    if (self->failed || size > KP_PRIVLOG_MAX_BODY) {
        snprintf(self->error, sizeof self->error, "record of %zu bytes is over the limit of %u",
                 size, KP_PRIVLOG_MAX_BODY);
        return 0;
    }
    //  Encode straight into the buffer, then frame it in place.
    if (s_reserve(self, KP_PRIVLOG_FRAME_HEADER + size)) {
        snprintf(self->error, sizeof self->error, "out of memory");
        return 0;
    }
    uint8_t *body = self->buf + self->len + KP_PRIVLOG_FRAME_HEADER;
    kp__log_record__pack(record, body);
    uint64_t seq = self->last_seq + 1;
    uint8_t hash[32];
    s_chain_hash(self->md_ctx, self->md, self->last_hash, KP_PRIVLOG_KIND_RECORD, seq, body, size,
                 hash);
    uint8_t *out = self->buf + self->len;
    s_le32(out, (uint32_t)size);
    out[8] = KP_PRIVLOG_KIND_RECORD;
    s_le64(out + 9, seq);
    memcpy(out + 17, hash, 32);
    uint32_t crc = kp_privlog_crc32c(0, out, 4);
    s_le32(out + 4, kp_privlog_crc32c(crc, out + 8, KP_PRIVLOG_FRAME_HEADER - 8 + size));
    s_entry_t *e = &self->entries[self->n_entries++];
    e->seq = seq;
    e->buf_off = self->len;
    self->len += KP_PRIVLOG_FRAME_HEADER + size;
    self->last_seq = seq;
    memcpy(self->last_hash, hash, 32);
    self->uncovered++;
    s_checkpoint_due(self);
    return seq;
}

//  Gives the segment its full size at once, so that appends fill blocks
//  the file already has and fdatasync writes data, not the file size.
//  Best effort: where fallocate is missing or the disk is nearly full,
//  the file grows as it is written.
static void s_preallocate(kp_privlog_t *self)
{
    self->seg_allocated = true;
    if (self->seg_size < self->options.segment_max &&
        fallocate(self->seg_fd, 0, 0, (off_t)self->options.segment_max))
        errno = 0;
}

//  Writes zeros ahead of the appends, a chunk at a time, so that each
//  group lands on blocks already written: over preallocated blocks never
//  written, fdatasync must also record them as written (ext4 converts the
//  extent: one more metadata write, and under a hypervisor one more exit,
//  on every sync). Best effort: a failure here shows in the append.
#define S_ZERO_CHUNK (256u * 1024)
static void s_zero_ahead(kp_privlog_t *self, uint64_t upto)
{
    //  Never behind the data: checkpoints are written past it too.
    if (self->seg_zeroed < self->seg_size)
        self->seg_zeroed = self->seg_size;
    if (upto + S_ZERO_CHUNK / 2 <= self->seg_zeroed ||
        self->seg_zeroed >= self->options.segment_max)
        return;
    uint64_t end = (upto > self->seg_zeroed ? upto : self->seg_zeroed) + S_ZERO_CHUNK;
    if (end > self->options.segment_max)
        end = self->options.segment_max;
    while (self->seg_zeroed < end) {
        uint64_t n =
            end - self->seg_zeroed < sizeof s_zeros ? end - self->seg_zeroed : sizeof s_zeros;
        if (s_pwrite_all(self->seg_fd, s_zeros, n, self->seg_zeroed))
            return;
        self->seg_zeroed += n;
    }
}

//  Shrinks a closed segment to its data, so that closed segments have no
//  preallocated tail. Not while a reader has it mapped (SIGBUS): then it
//  is kept and tried again later (wait: destroy). 0, or -1 on failure.
static int s_shrink(kp_privlog_t *self, bool wait)
{
    if (self->closing_fd < 0)
        return 0;
    if (s_flock(self->closing_fd, wait ? LOCK_EX : LOCK_EX | LOCK_NB))
        return errno == EWOULDBLOCK ? 0 : s_fail(self, "cannot lock a closed segment");
    struct stat st;
    if (fstat(self->closing_fd, &st) ||
        ((uint64_t)st.st_size != self->closing_size &&
         (ftruncate(self->closing_fd, (off_t)self->closing_size) || fsync(self->closing_fd))))
        return s_fail(self, "cannot cut a closed segment to its data");
    close(self->closing_fd);
    self->closing_fd = -1;
    return 0;
}

//  Closes the current segment; it is shrunk to its data as soon as no
//  reader has it mapped.
static int s_segment_close(kp_privlog_t *self, bool wait)
{
    if (self->seg_fd < 0)
        return 0;
    if (self->closing_fd >= 0 && s_shrink(self, true))
        return -1;
    self->closing_fd = self->seg_fd;
    self->closing_size = self->seg_size;
    self->seg_fd = -1;
    return s_shrink(self, wait);
}

//  Makes the segment that the next record (durable_seq + 1) starts.
static int s_segment_create(kp_privlog_t *self, int32_t day)
{
    char text[9];
    s_day_text(day, text);
    snprintf(self->seg.name, sizeof self->seg.name, "%020llu-%s.kplog",
             (unsigned long long)self->durable_seq + 1, text);
    self->seg.first_seq = self->durable_seq + 1;
    self->seg.day = day;
    char path[S_PATH];
    snprintf(path, sizeof path, "%s/%s", self->dir, self->seg.name);
    uint8_t header[KP_PRIVLOG_SEGMENT_HEADER];
    s_header_encode(header, self->seg.first_seq, day, self->durable_hash);
    self->seg_fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (self->seg_fd < 0)
        return s_fail(self, "cannot create a segment");
    self->seg_size = KP_PRIVLOG_SEGMENT_HEADER;
    self->seg_zeroed = self->seg_size;
    self->seg_records = 0;
    self->seg_allocated = false;
    if (s_pwrite_all(self->seg_fd, header, sizeof header, 0))
        return s_fail(self, "cannot write a segment header");
    s_preallocate(self);
    if (fdatasync(self->seg_fd) || s_fsync_dir(self->dir))
        return s_fail(self, "cannot write a segment header");
    return 0;
}

//  Ends the current segment: a signed checkpoint over what it holds (if
//  it is not covered yet), then close. The next sync makes the next one.
static int s_roll(kp_privlog_t *self)
{
    if (self->key && self->seg_records && !self->tail_checkpoint) {
        uint8_t frame[KP_PRIVLOG_FRAME_HEADER + 256];
        size_t n =
            s_checkpoint_frame(self->key, self->pub, self->durable_seq, self->durable_hash, frame);
        if (!n) {
            snprintf(self->error, sizeof self->error, "cannot sign a checkpoint (OpenSSL)");
            self->failed = true;
            return -1;
        }
        if (s_pwrite_all(self->seg_fd, frame, n, self->seg_size) || fdatasync(self->seg_fd))
            return s_fail(self, "cannot write a checkpoint");
        self->seg_size += n;
        self->uncovered = self->last_seq - self->durable_seq;
        self->checkpoint_us = s_now_us();
        self->checkpointed = true;
    }
    self->tail_checkpoint = false;
    return s_segment_close(self, false);
}

static int32_t s_entry_day(kp_privlog_t *self, const s_entry_t *e)
{
    //  Read the time back from the encoded record: field 2, a varint.
    Kp__LogRecord *r = kp__log_record__unpack(NULL, s_get32(self->buf + e->buf_off),
                                              self->buf + e->buf_off + KP_PRIVLOG_FRAME_HEADER);
    uint64_t t = r && r->has_time_unix_us && r->time_unix_us ? r->time_unix_us : s_now_us();
    kp__log_record__free_unpacked(r, NULL);
    return s_day_of(t);
}

int kp_privlog_sync(kp_privlog_t *self)
{
    if (self->failed)
        return -1;
    if (self->synced == self->len)
        return 0;
    //  Roll by day: the first waiting record says which day we are in.
    if (self->entries_synced < self->n_entries) {
        int32_t day = s_entry_day(self, &self->entries[self->entries_synced]);
        if (self->seg_fd >= 0 && day > self->seg.day) {
            if (self->seg_records) {
                if (s_roll(self))
                    return -1;
            } else { //  an empty segment of a past day: replace it
                char path[S_PATH];
                snprintf(path, sizeof path, "%s/%s", self->dir, self->seg.name);
                close(self->seg_fd);
                self->seg_fd = -1;
                unlink(path);
            }
        }
        if (self->seg_fd < 0 && s_segment_create(self, day))
            return -1;
    }
    uint64_t now = s_now_us();
    if (self->key && self->uncovered &&
        (self->uncovered >= self->options.checkpoint_every ||
         now - self->checkpoint_us >= (uint64_t)self->options.checkpoint_secs * 1000000u)) {
        if (s_reserve(self, KP_PRIVLOG_FRAME_HEADER + 256))
            return s_fail(self, "out of memory");
        size_t n = s_checkpoint_frame(self->key, self->pub, self->last_seq, self->last_hash,
                                      self->buf + self->len);
        if (!n) {
            snprintf(self->error, sizeof self->error, "cannot sign a checkpoint (OpenSSL)");
            self->failed = true;
            return -1;
        }
        self->len += n;
        self->uncovered = 0;
        self->checkpoint_us = now;
        self->checkpointed = true;
    }
    if (self->seg_fd < 0 && s_segment_create(self, s_day_of(now)))
        return -1;
    for (size_t i = self->entries_synced; i < self->n_entries; i++) {
        s_entry_t *e = &self->entries[i];
        e->segment = self->seg.first_seq;
        e->file_off = self->seg_size + (e->buf_off - self->synced);
    }
    bool ends_with_checkpoint = self->uncovered == 0;
    size_t size = self->len - self->synced;
    if (!self->seg_allocated)
        s_preallocate(self); //  a segment reopened after a restart
    s_zero_ahead(self, self->seg_size + size);
    if (s_pwrite_all(self->seg_fd, self->buf + self->synced, size, self->seg_size) ||
        fdatasync(self->seg_fd))
        return s_fail(self, "cannot write or sync (disk full or failing?)");
    self->seg_size += size;
    self->seg_records += self->n_entries - self->entries_synced;
    self->synced = self->len;
    self->entries_synced = self->n_entries;
    self->tail_checkpoint = ends_with_checkpoint;
    self->durable_seq = self->last_seq;
    memcpy(self->durable_hash, self->last_hash, 32);
    if (self->seg_size >= self->options.segment_max)
        return s_roll(self);
    return s_shrink(self, false);
}

int kp_privlog_index_flush(kp_privlog_t *self)
{
    int rc = 0;
    if (self->index && self->entries_synced) {
        for (size_t i = 0; i < self->entries_synced && !rc; i++) {
            s_entry_t *e = &self->entries[i];
            const uint8_t *frame = self->buf + e->buf_off;
            Kp__LogRecord *r =
                kp__log_record__unpack(NULL, s_get32(frame), frame + KP_PRIVLOG_FRAME_HEADER);
            rc = r ? kp_logindex_add(self->index, r, e->seq, e->segment, e->file_off) : -1;
            kp__log_record__free_unpacked(r, NULL);
        }
        s_entry_t *last = &self->entries[self->entries_synced - 1];
        uint64_t next =
            last->file_off + KP_PRIVLOG_FRAME_HEADER + s_get32(self->buf + last->buf_off);
        if (!rc)
            rc = kp_logindex_set_position(self->index, last->seq, last->segment, next);
        if (!rc)
            rc = kp_logindex_commit(self->index);
        else
            kp_logindex_abort(self->index);
        if (!rc && self->checkpointed) {
            rc = kp_logindex_sync(self->index);
            self->checkpointed = false;
        }
        if (rc)
            snprintf(self->error, sizeof self->error, "%s (the index lags; it catches up on open)",
                     kp_logindex_error(self->index));
    }
    //  Drop what is synced from the buffer; keep what waits for a sync.
    if (!self->buf)
        return rc;
    memmove(self->buf, self->buf + self->synced, self->len - self->synced);
    self->len -= self->synced;
    size_t keep = self->n_entries - self->entries_synced;
    if (keep)
        memmove(self->entries, self->entries + self->entries_synced, keep * sizeof *self->entries);
    for (size_t i = 0; i < keep; i++)
        self->entries[i].buf_off -= self->synced;
    self->n_entries = keep;
    self->entries_synced = 0;
    self->synced = 0;
    return rc;
}

int kp_privlog_commit(kp_privlog_t *self)
{
    if (kp_privlog_sync(self))
        return -1;
    return kp_privlog_index_flush(self);
}

int kp_privlog_tick(kp_privlog_t *self)
{
    if (self->failed || s_shrink(self, false))
        return -1;
    if (!self->key || !self->uncovered ||
        s_now_us() - self->checkpoint_us < (uint64_t)self->options.checkpoint_secs * 1000000u)
        return 0;
    //  Force the checkpoint: sync checks the same clock.
    if (self->synced == self->len) {
        if (self->seg_fd < 0)
            return 0;
        uint8_t frame[KP_PRIVLOG_FRAME_HEADER + 256];
        size_t n =
            s_checkpoint_frame(self->key, self->pub, self->durable_seq, self->durable_hash, frame);
        if (!n || s_pwrite_all(self->seg_fd, frame, n, self->seg_size) || fdatasync(self->seg_fd))
            return s_fail(self, "cannot write a checkpoint");
        self->seg_size += n;
        self->uncovered = 0;
        self->checkpoint_us = s_now_us();
        self->checkpointed = true;
        self->tail_checkpoint = true;
        return 0;
    }
    return kp_privlog_commit(self);
}

uint64_t kp_privlog_last_seq(kp_privlog_t *self)
{
    return self->last_seq;
}

uint64_t kp_privlog_durable_seq(kp_privlog_t *self)
{
    return self->durable_seq;
}

const char *kp_privlog_error(kp_privlog_t *self)
{
    return self->error;
}

void kp_privlog_destroy(kp_privlog_t **self_p)
{
    if (!*self_p)
        return;
    kp_privlog_t *self = *self_p;
    if (!self->failed && kp_privlog_commit(self) == 0 && self->seg_fd >= 0 && self->key &&
        self->uncovered) {
        uint8_t frame[KP_PRIVLOG_FRAME_HEADER + 256];
        size_t n =
            s_checkpoint_frame(self->key, self->pub, self->durable_seq, self->durable_hash, frame);
        if (n && !s_pwrite_all(self->seg_fd, frame, n, self->seg_size) && !fdatasync(self->seg_fd))
            self->seg_size += n;
    }
    //  Closed segments have no preallocated tail; after a failed sync the
    //  cut also drops whatever of the failed write reached the file.
    s_segment_close(self, true);
    s_shrink(self, true);
    kp_logindex_destroy(&self->index);
    if (self->lock_fd >= 0)
        close(self->lock_fd);
    EVP_PKEY_free(self->key);
    EVP_MD_free(self->md);
    EVP_MD_CTX_free(self->md_ctx);
    free(self->buf);
    free(self->entries);
    free(self);
    *self_p = NULL;
}

// ---------------------------------------------------------------------------
// Index catch-up

#define S_CATCH_UP_BATCH 100000

//  Indexes the records after the index's position, up to upto_seq (a
//  writer may be appending behind it: only what it has synced is read).
static int64_t s_catch_up(kp_logindex_t *index, const char *dir, uint64_t upto_seq, char *error)
{
    uint64_t pos_seq, pos_seg, pos_off;
    error[0] = 0;
    if (kp_logindex_position(index, &pos_seq, &pos_seg, &pos_off)) {
        snprintf(error, KP_PRIVLOG_ERR, "%s", kp_logindex_error(index));
        return -1;
    }
    kp_privlog_segment_t *segs;
    int n = kp_privlog_segments(dir, &segs, error);
    if (n < 0)
        return -1;
    int64_t added = 0;
    uint64_t last_seq = 0, last_seg = 0, last_off = 0;
    int64_t batch = 0;
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        if (i + 1 < n && segs[i + 1].first_seq <= pos_seg)
            continue; //  wholly indexed already
        s_map_t map;
        if (s_segment_map(dir, segs[i].name, &map, error)) {
            rc = -1;
            break;
        }
        size_t off = KP_PRIVLOG_SEGMENT_HEADER;
        if (segs[i].first_seq == pos_seg && pos_off >= off)
            off = pos_off;
        if (!map.header_ok)
            off = map.size; //  the writer judges it; nothing to index here
        if (off > map.size && i == n - 1) {
            //  The index is ahead of a log whose tail was cut: forget the
            //  entries of records that are no longer there.
            if (kp_logindex_drop(index, segs[i].first_seq, UINT64_MAX)) {
                rc = -1;
                snprintf(error, KP_PRIVLOG_ERR, "%s", kp_logindex_error(index));
            }
            off = KP_PRIVLOG_SEGMENT_HEADER;
            pos_seq = segs[i].first_seq - 1;
        }
        while (!rc && off < map.size) {
            s_frame_t f;
            if (s_frame_parse(map.data + off, map.size - off, &f) != S_FRAME_OK)
                break;
            if (f.kind == KP_PRIVLOG_KIND_RECORD && f.seq > upto_seq)
                break;
            if (f.kind == KP_PRIVLOG_KIND_RECORD && f.seq > pos_seq) {
                Kp__LogRecord *r = kp__log_record__unpack(NULL, f.len, f.body);
                if (r && kp_logindex_add(index, r, f.seq, segs[i].first_seq, off))
                    rc = -1;
                kp__log_record__free_unpacked(r, NULL);
                added++;
                batch++;
                last_seq = f.seq;
            }
            off += KP_PRIVLOG_FRAME_HEADER + f.len;
            last_seg = segs[i].first_seq;
            last_off = off;
            if (!rc && batch >= S_CATCH_UP_BATCH) {
                rc = kp_logindex_set_position(index, last_seq, last_seg, last_off);
                if (!rc)
                    rc = kp_logindex_commit(index);
                batch = 0;
            }
        }
        s_segment_unmap(&map);
        if (rc && !*error)
            snprintf(error, KP_PRIVLOG_ERR, "%s", kp_logindex_error(index));
    }
    free(segs);
    if (!rc && last_seq)
        rc = kp_logindex_set_position(index, last_seq, last_seg, last_off);
    if (!rc)
        rc = kp_logindex_commit(index);
    if (rc) {
        kp_logindex_abort(index);
        if (!*error)
            snprintf(error, KP_PRIVLOG_ERR, "%s", kp_logindex_error(index));
        return -1;
    }
    return added;
}

int64_t kp_privlog_index_catch_up(const char *dir, uint64_t map_size, char *error)
{
    char path[S_PATH];
    snprintf(path, sizeof path, "%s/index", dir);
    struct stat st;
    if (stat(dir, &st) || !S_ISDIR(st.st_mode)) {
        snprintf(error, KP_PRIVLOG_ERR, "no log folder %s (is --data the node's log folder?)", dir);
        return -1;
    }
    kp_logindex_t *index = kp_logindex_open(path, false, map_size, error);
    if (!index)
        return -1;
    error[0] = 0;
    int64_t added = s_catch_up(index, dir, UINT64_MAX, error);
    kp_logindex_destroy(&index);
    return added;
}

int64_t kp_privlog_index_follow(const char *dir, struct _kp_logindex_t *index, uint64_t upto_seq,
                                char *error)
{
    error[0] = 0;
    return s_catch_up(index, dir, upto_seq, error);
}

// ---------------------------------------------------------------------------
// Reading records

struct _privlog_reader_t {
    char dir[S_PATH];
    kp_privlog_segment_t *segs;
    int n_segs;
    int fd;
    uint64_t fd_segment;
    uint8_t *buf;
};

kp_privlog_reader_t *kp_privlog_reader_new(const char *dir, char *error)
{
    kp_privlog_reader_t *self = calloc(1, sizeof *self);
    if (!self || !(self->buf = malloc(KP_PRIVLOG_FRAME_HEADER + KP_PRIVLOG_MAX_BODY))) {
        free(self);
        snprintf(error, KP_PRIVLOG_ERR, "out of memory");
        return NULL;
    }
    snprintf(self->dir, sizeof self->dir, "%s", dir);
    self->fd = -1;
    self->n_segs = kp_privlog_segments(dir, &self->segs, error);
    if (self->n_segs < 0) {
        free(self->buf);
        free(self);
        return NULL;
    }
    return self;
}

void kp_privlog_reader_destroy(kp_privlog_reader_t **self_p)
{
    if (!*self_p)
        return;
    kp_privlog_reader_t *self = *self_p;
    if (self->fd >= 0)
        close(self->fd);
    free(self->segs);
    free(self->buf);
    free(self);
    *self_p = NULL;
}

static const kp_privlog_segment_t *s_find(kp_privlog_reader_t *self, uint64_t segment)
{
    int lo = 0, hi = self->n_segs - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (self->segs[mid].first_seq == segment)
            return &self->segs[mid];
        if (self->segs[mid].first_seq < segment)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return NULL;
}

static int s_pread_all(int fd, uint8_t *buf, size_t size, uint64_t offset)
{
    while (size) {
        ssize_t n = pread(fd, buf, size, (off_t)offset);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        buf += n;
        size -= (size_t)n;
        offset += (uint64_t)n;
    }
    return 0;
}

Kp__LogRecord *kp_privlog_reader_get(kp_privlog_reader_t *self, uint64_t segment, uint64_t offset,
                                     uint64_t *seq, char *error)
{
    if (self->fd < 0 || self->fd_segment != segment) {
        const kp_privlog_segment_t *seg = s_find(self, segment);
        if (!seg) { //  a segment made since we listed?
            free(self->segs);
            self->n_segs = kp_privlog_segments(self->dir, &self->segs, error);
            if (self->n_segs < 0)
                return NULL;
            seg = s_find(self, segment);
        }
        if (!seg) {
            snprintf(error, KP_PRIVLOG_ERR, "segment %llu is gone (pruned)",
                     (unsigned long long)segment);
            return NULL;
        }
        if (self->fd >= 0)
            close(self->fd);
        char path[S_PATH];
        snprintf(path, sizeof path, "%s/%s", self->dir, seg->name);
        self->fd = open(path, O_RDONLY | O_CLOEXEC);
        if (self->fd < 0) {
            snprintf(error, KP_PRIVLOG_ERR, "cannot read %s: %s", path, strerror(errno));
            return NULL;
        }
        self->fd_segment = segment;
    }
    s_frame_t f;
    if (s_pread_all(self->fd, self->buf, KP_PRIVLOG_FRAME_HEADER, offset) ||
        s_get32(self->buf) > KP_PRIVLOG_MAX_BODY ||
        s_pread_all(self->fd, self->buf + KP_PRIVLOG_FRAME_HEADER, s_get32(self->buf),
                    offset + KP_PRIVLOG_FRAME_HEADER) ||
        s_frame_parse(self->buf, KP_PRIVLOG_FRAME_HEADER + s_get32(self->buf), &f) != S_FRAME_OK ||
        f.kind != KP_PRIVLOG_KIND_RECORD) {
        snprintf(error, KP_PRIVLOG_ERR,
                 "no intact record at segment %llu offset %llu (run 'kpctl log verify')",
                 (unsigned long long)segment, (unsigned long long)offset);
        return NULL;
    }
    Kp__LogRecord *r = kp__log_record__unpack(NULL, f.len, f.body);
    if (!r)
        snprintf(error, KP_PRIVLOG_ERR, "record at segment %llu offset %llu does not decode",
                 (unsigned long long)segment, (unsigned long long)offset);
    *seq = f.seq;
    return r;
}

int kp_privlog_scan(const char *dir, int32_t from_day, int32_t to_day, kp_privlog_scan_fn *fn,
                    void *arg, char *error)
{
    kp_privlog_segment_t *segs;
    int n = kp_privlog_segments(dir, &segs, error);
    if (n < 0)
        return -1;
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        //  A segment holds one day, so whole segments can be skipped.
        if (segs[i].day > to_day)
            break;
        if (segs[i].day < from_day && i + 1 < n && segs[i + 1].day < from_day)
            continue;
        s_map_t map;
        if (s_segment_map(dir, segs[i].name, &map, error)) {
            rc = -1;
            break;
        }
        size_t off = KP_PRIVLOG_SEGMENT_HEADER;
        while (map.header_ok && off < map.size && !rc) {
            s_frame_t f;
            int p = s_frame_parse(map.data + off, map.size - off, &f);
            int end = p == S_FRAME_OK ? S_END_DAMAGE : s_end_kind(map.data, map.size, off);
            if (end == S_END_CLEAN || (end == S_END_TORN && i == n - 1))
                break; //  the preallocated tail; or being written, or torn
            if (p != S_FRAME_OK) {
                snprintf(error, KP_PRIVLOG_ERR,
                         "segment %s: damaged record at offset %zu (run 'kpctl log verify')",
                         segs[i].name, off);
                rc = -1;
                break;
            }
            if (f.kind == KP_PRIVLOG_KIND_RECORD) {
                Kp__LogRecord *r = kp__log_record__unpack(NULL, f.len, f.body);
                if (r)
                    rc = fn(r, f.seq, arg) ? 1 : 0;
                kp__log_record__free_unpacked(r, NULL);
            }
            off += KP_PRIVLOG_FRAME_HEADER + f.len;
        }
        s_segment_unmap(&map);
    }
    free(segs);
    return rc < 0 ? -1 : 0;
}

// ---------------------------------------------------------------------------
// Verify

typedef struct {
    const char *dir;
    kp_privlog_verify_t *res;
    EVP_PKEY *trusted;
    EVP_MD *md;
    EVP_MD_CTX *ctx;
    bool started;
    uint64_t expected;
    uint8_t prev[32];
    uint64_t covered; //  last seq under a valid checkpoint
} s_verify_t;

static int s_problem(s_verify_t *v, const char *problem, const char *segment, uint64_t offset,
                     uint64_t seq, const char *detail)
{
    kp_privlog_verify_t *r = v->res;
    r->ok = false;
    snprintf(r->problem, sizeof r->problem, "%s", problem);
    snprintf(r->segment, sizeof r->segment, "%s", segment);
    r->offset = offset;
    r->seq = seq;
    snprintf(r->detail, sizeof r->detail, "%s", detail);
    return 1;
}

//  Checks one checkpoint body against the chain state and the key.
static int s_verify_checkpoint(s_verify_t *v, const char *segment, size_t off, const s_frame_t *f)
{
    char text[KP_PRIVLOG_ERR];
    Kp__LogCheckpoint *cp = kp__log_checkpoint__unpack(NULL, f->len, f->body);
    int rc = 0;
    if (!cp || !cp->has_seq || !cp->has_hash || cp->hash.len != 32) {
        rc = s_problem(v, "changed", segment, off, v->expected - 1, "a checkpoint does not decode");
    } else if (cp->seq != v->expected - 1 || memcmp(cp->hash.data, v->prev, 32) ||
               f->seq != cp->seq || memcmp(f->hash, v->prev, 32)) {
        snprintf(text, sizeof text,
                 "the checkpoint for seq %llu does not match the chain: a record after seq %llu "
                 "was changed, removed or inserted and the hashes recomputed",
                 (unsigned long long)cp->seq, (unsigned long long)v->covered);
        rc = s_problem(v, "changed", segment, off, v->covered + 1, text);
    } else if (v->trusted && (!cp->has_public_key || cp->public_key.len != 32 ||
                              !s_checkpoint_valid(cp, v->trusted))) {
        snprintf(text, sizeof text,
                 "the checkpoint for seq %llu is not signed by the trusted key (--pub)",
                 (unsigned long long)cp->seq);
        rc = s_problem(v, "signature", segment, off, cp->seq, text);
    } else if (!v->trusted && !s_checkpoint_valid(cp, NULL)) {
        snprintf(text, sizeof text, "the signature of the checkpoint for seq %llu is wrong",
                 (unsigned long long)cp->seq);
        rc = s_problem(v, "signature", segment, off, cp->seq, text);
    } else {
        v->covered = cp->seq;
        v->res->checkpoints++;
    }
    kp__log_checkpoint__free_unpacked(cp, NULL);
    return rc;
}

//  After seq jumped ahead at off: is the missing one just behind?
static bool s_found_later(const s_map_t *map, size_t off, uint64_t seq)
{
    for (int i = 0; i < 64 && off < map->size; i++) {
        s_frame_t f;
        if (s_frame_parse(map->data + off, map->size - off, &f) != S_FRAME_OK)
            return false;
        if (f.kind == KP_PRIVLOG_KIND_RECORD && f.seq == seq)
            return true;
        off += KP_PRIVLOG_FRAME_HEADER + f.len;
    }
    return false;
}

static int s_verify_segment(s_verify_t *v, const kp_privlog_segment_t *seg, bool last)
{
    char text[KP_PRIVLOG_ERR];
    s_map_t map;
    if (s_segment_map(v->dir, seg->name, &map, text))
        return s_problem(v, "unreadable", seg->name, 0, v->expected, text);
    int rc = 0;
    if (!map.header_ok || map.first_seq != seg->first_seq) {
        rc = s_problem(v, "changed", seg->name, 0, seg->first_seq,
                       "the segment header is damaged or does not match the file name");
        goto done;
    }
    if (!v->started) {
        v->started = true;
        v->expected = map.first_seq;
        memcpy(v->prev, map.prev_hash, 32);
        v->covered = map.first_seq - 1;
        v->res->first_seq = map.first_seq;
    } else if (map.first_seq != v->expected) {
        snprintf(text, sizeof text, "the segment starts at seq %llu where %llu was due",
                 (unsigned long long)map.first_seq, (unsigned long long)v->expected);
        rc = s_problem(v, map.first_seq > v->expected ? "removed" : "inserted", seg->name, 0,
                       v->expected, text);
        goto done;
    } else if (memcmp(map.prev_hash, v->prev, 32)) {
        rc = s_problem(v, "changed", seg->name, 0, v->expected,
                       "the segment does not continue the chain of the one before it");
        goto done;
    }
    v->res->segments++;
    size_t off = KP_PRIVLOG_SEGMENT_HEADER;
    while (off < map.size) {
        s_frame_t f;
        int p = s_frame_parse(map.data + off, map.size - off, &f);
        int end = p == S_FRAME_OK ? S_END_DAMAGE : s_end_kind(map.data, map.size, off);
        if (end == S_END_CLEAN)
            break; //  the zeros of a preallocated segment
        if (end == S_END_TORN && last) {
            v->res->torn_tail = true;
            break;
        }
        if (p != S_FRAME_OK) {
            rc = s_problem(v, p == S_FRAME_SHORT ? "removed" : "changed", seg->name, off,
                           v->expected,
                           p == S_FRAME_SHORT ? "the segment is cut short inside a record"
                                              : "the record fails its CRC: its bytes were changed");
            break;
        }
        if (f.kind == KP_PRIVLOG_KIND_CHECKPOINT) {
            if ((rc = s_verify_checkpoint(v, seg->name, off, &f)))
                break;
        } else if (f.seq != v->expected) {
            bool later = f.seq > v->expected &&
                         s_found_later(&map, off + KP_PRIVLOG_FRAME_HEADER + f.len, v->expected);
            const char *kind = f.seq < v->expected ? "inserted" : later ? "reordered" : "removed";
            snprintf(text, sizeof text, "found seq %llu where %llu was due",
                     (unsigned long long)f.seq, (unsigned long long)v->expected);
            rc = s_problem(v, kind, seg->name, off, v->expected, text);
            break;
        } else {
            uint8_t hash[32];
            s_chain_hash(v->ctx, v->md, v->prev, KP_PRIVLOG_KIND_RECORD, f.seq, f.body, f.len,
                         hash);
            if (memcmp(hash, f.hash, 32)) {
                rc = s_problem(v, "changed", seg->name, off, f.seq,
                               "the record does not match its chain hash: it was changed, or "
                               "inserted in place of another");
                break;
            }
            memcpy(v->prev, hash, 32);
            v->expected++;
            v->res->records++;
        }
        off += KP_PRIVLOG_FRAME_HEADER + f.len;
    }
done:
    s_segment_unmap(&map);
    return rc;
}

//  Reads DIR/anchor: 0 and the checkpoint, 1 if there is none, -1 bad.
static int s_anchor_read(const char *dir, Kp__LogCheckpoint **cp)
{
    char path[S_PATH];
    snprintf(path, sizeof path, "%s/anchor", dir);
    *cp = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return errno == ENOENT ? 1 : -1;
    uint8_t buf[KP_PRIVLOG_FRAME_HEADER + 512];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    s_frame_t fr;
    if (s_frame_parse(buf, n, &fr) != S_FRAME_OK || fr.kind != KP_PRIVLOG_KIND_CHECKPOINT)
        return -1;
    *cp = kp__log_checkpoint__unpack(NULL, fr.len, fr.body);
    if (!*cp || !(*cp)->has_seq || !(*cp)->has_hash || (*cp)->hash.len != 32) {
        kp__log_checkpoint__free_unpacked(*cp, NULL);
        *cp = NULL;
        return -1;
    }
    return 0;
}

//  Sets the start of the chain from the anchor, or says what is wrong.
static int s_verify_start(s_verify_t *v, const kp_privlog_segment_t *first)
{
    Kp__LogCheckpoint *cp;
    int a = s_anchor_read(v->dir, &cp);
    if (a < 0)
        return s_problem(v, "changed", "anchor", 0, first->first_seq,
                         "the prune anchor is damaged");
    if (a == 1) {
        if (first->first_seq != 1) {
            char text[KP_PRIVLOG_ERR];
            snprintf(text, sizeof text,
                     "the log starts at seq %llu and there is no prune anchor: records before it "
                     "were removed",
                     (unsigned long long)first->first_seq);
            return s_problem(v, "removed", first->name, 0, 1, text);
        }
        v->started = true;
        v->expected = 1;
        memset(v->prev, 0, 32);
        v->res->first_seq = 1;
        return 0;
    }
    int rc = 0;
    if (cp->has_signature && !s_checkpoint_valid(cp, v->trusted))
        rc = s_problem(v, "signature", "anchor", 0, cp->seq,
                       "the prune anchor's signature is wrong");
    else {
        v->started = true;
        v->expected = cp->seq + 1;
        memcpy(v->prev, cp->hash.data, 32);
        v->covered = cp->seq;
        v->res->anchored = cp->has_signature;
        v->res->first_seq = cp->seq + 1;
    }
    kp__log_checkpoint__free_unpacked(cp, NULL);
    return rc;
}

int kp_privlog_verify(const char *dir, int32_t from_day, int32_t to_day, const char *pub_file,
                      kp_privlog_verify_t *result, char *error)
{
    memset(result, 0, sizeof *result);
    result->ok = true;
    s_verify_t v = {.dir = dir, .res = result};
    if (pub_file && !(v.trusted = s_key_load(pub_file, false, error)))
        return -1;
    result->key_from_log = !pub_file;
    kp_privlog_segment_t *segs;
    int n = kp_privlog_segments(dir, &segs, error);
    if (n < 0) {
        EVP_PKEY_free(v.trusted);
        return -1;
    }
    v.md = EVP_MD_fetch(NULL, "SHA256", NULL);
    v.ctx = EVP_MD_CTX_new();
    int a = 0;
    while (a < n && segs[a].day < from_day)
        a++;
    int rc = 0;
    if (a == 0 && n > 0)
        rc = s_verify_start(&v, &segs[0]);
    for (int i = a; i < n && !rc && segs[i].day <= to_day; i++)
        rc = s_verify_segment(&v, &segs[i], i == n - 1);
    result->last_seq = v.started ? v.expected - 1 : 0;
    result->unsigned_tail =
        v.started && v.expected - 1 > v.covered ? v.expected - 1 - v.covered : 0;
    free(segs);
    EVP_MD_free(v.md);
    EVP_MD_CTX_free(v.ctx);
    EVP_PKEY_free(v.trusted);
    return result->ok ? 0 : 1;
}

// ---------------------------------------------------------------------------
// Prune and export

//  The frame that closes seg: its final checkpoint if it ends with one,
//  otherwise an unsigned checkpoint for its last record. Also the size of
//  its intact part. 0, or -1 with error.
static int s_segment_end(const char *dir, const kp_privlog_segment_t *seg, uint8_t *out,
                         size_t *out_len, size_t *intact, uint64_t *last_seq, char *error)
{
    s_map_t map;
    if (s_segment_map(dir, seg->name, &map, error))
        return -1;
    if (!map.header_ok) {
        s_segment_unmap(&map);
        snprintf(error, KP_PRIVLOG_ERR, "segment %s has a damaged header (run 'kpctl log verify')",
                 seg->name);
        return -1;
    }
    uint64_t seq = map.first_seq - 1;
    uint8_t hash[32];
    memcpy(hash, map.prev_hash, 32);
    size_t off = KP_PRIVLOG_SEGMENT_HEADER, last_cp = 0, last_cp_len = 0;
    s_frame_t f;
    while (off < map.size && s_frame_parse(map.data + off, map.size - off, &f) == S_FRAME_OK) {
        if (f.kind == KP_PRIVLOG_KIND_RECORD) {
            seq = f.seq;
            memcpy(hash, f.hash, 32);
            last_cp_len = 0;
        } else if (f.seq == seq && !memcmp(f.hash, hash, 32)) {
            last_cp = off;
            last_cp_len = KP_PRIVLOG_FRAME_HEADER + f.len;
        }
        off += KP_PRIVLOG_FRAME_HEADER + f.len;
    }
    if (last_cp_len && last_cp_len <= KP_PRIVLOG_FRAME_HEADER + 256) {
        memcpy(out, map.data + last_cp, last_cp_len);
        *out_len = last_cp_len;
    } else {
        Kp__LogCheckpoint cp = KP__LOG_CHECKPOINT__INIT;
        cp.has_seq = cp.has_hash = 1;
        cp.seq = seq;
        cp.hash.data = hash;
        cp.hash.len = 32;
        uint8_t body[128];
        size_t len = kp__log_checkpoint__pack(&cp, body);
        *out_len = s_frame_encode(out, KP_PRIVLOG_KIND_CHECKPOINT, seq, hash, body, len);
    }
    *intact = off;
    *last_seq = seq;
    s_segment_unmap(&map);
    return 0;
}

static int s_file_write(const char *path, const uint8_t *data, size_t size, char *error)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || s_write_all(fd, data, size) || fsync(fd)) {
        snprintf(error, KP_PRIVLOG_ERR, "cannot write %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

static int s_anchor_write(const char *dir, const uint8_t *frame, size_t len, char *error)
{
    char tmp[S_PATH], path[S_PATH];
    snprintf(tmp, sizeof tmp, "%s/anchor.tmp", dir);
    snprintf(path, sizeof path, "%s/anchor", dir);
    if (s_file_write(tmp, frame, len, error))
        return -1;
    if (rename(tmp, path) || s_fsync_dir(dir)) {
        snprintf(error, KP_PRIVLOG_ERR, "cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

int kp_privlog_prune(const char *dir, int32_t before_day, int32_t retention_days, int32_t today_day,
                     char *error)
{
    int32_t keep_from = today_day - retention_days;
    if (before_day > keep_from) {
        char a[11], b[11];
        time_t t = (time_t)keep_from * 86400;
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(a, sizeof a, "%Y-%m-%d", &tm);
        t = (time_t)before_day * 86400;
        gmtime_r(&t, &tm);
        strftime(b, sizeof b, "%Y-%m-%d", &tm);
        snprintf(error, KP_PRIVLOG_ERR,
                 "refused: --before %s would remove records younger than the retention of %d "
                 "days; records from %s on must be kept (use --before %s or earlier)",
                 b, retention_days, a, a);
        return -1;
    }
    kp_privlog_segment_t *segs;
    int n = kp_privlog_segments(dir, &segs, error);
    if (n < 0)
        return -1;
    int k = 0;
    while (k < n - 1 && segs[k].day < before_day)
        k++;
    if (k == 0) {
        free(segs);
        return 0;
    }
    uint8_t frame[KP_PRIVLOG_FRAME_HEADER + 256];
    size_t len, intact;
    uint64_t last_seq;
    int rc = s_segment_end(dir, &segs[k - 1], frame, &len, &intact, &last_seq, error);
    s_map_t next;
    if (!rc && !s_segment_map(dir, segs[k].name, &next, error)) {
        s_frame_t f;
        s_frame_parse(frame, len, &f);
        if (!next.header_ok || next.first_seq != last_seq + 1 ||
            memcmp(next.prev_hash, f.hash, 32)) {
            snprintf(error, KP_PRIVLOG_ERR,
                     "refused: the chain does not continue from %s to %s; run 'kpctl log verify' "
                     "first",
                     segs[k - 1].name, segs[k].name);
            rc = -1;
        }
        s_segment_unmap(&next);
    } else
        rc = -1;
    if (!rc)
        rc = s_anchor_write(dir, frame, len, error);
    for (int i = 0; i < k && !rc; i++) {
        char path[S_PATH];
        snprintf(path, sizeof path, "%s/%s", dir, segs[i].name);
        if (unlink(path) && errno != ENOENT) {
            snprintf(error, KP_PRIVLOG_ERR, "cannot remove %s: %s", path, strerror(errno));
            rc = -1;
        }
    }
    free(segs);
    if (rc)
        return -1;
    s_fsync_dir(dir);
    //  The index forgets the removed records; should that fail, queries
    //  still skip them (their segments are gone).
    char path[S_PATH];
    snprintf(path, sizeof path, "%s/index", dir);
    struct stat st;
    if (!stat(path, &st)) {
        char ignored[KP_PRIVLOG_ERR];
        kp_logindex_t *index = kp_logindex_open(path, false, 0, ignored);
        if (index)
            kp_logindex_drop(index, 0, last_seq);
        kp_logindex_destroy(&index);
    }
    return k;
}

int kp_privlog_export(const char *dir, int32_t from_day, int32_t to_day, const char *outdir,
                      char *error)
{
    kp_privlog_segment_t *segs;
    int n = kp_privlog_segments(dir, &segs, error);
    if (n < 0)
        return -1;
    int a = 0;
    while (a < n && segs[a].day < from_day)
        a++;
    int b = a;
    while (b < n && segs[b].day <= to_day)
        b++;
    if (a == b) {
        free(segs);
        snprintf(error, KP_PRIVLOG_ERR, "no segments between those dates in %s", dir);
        return -1;
    }
    if (mkdir(outdir, 0700) && errno != EEXIST) {
        free(segs);
        snprintf(error, KP_PRIVLOG_ERR, "cannot make %s: %s", outdir, strerror(errno));
        return -1;
    }
    kp_privlog_segment_t *there;
    int m = kp_privlog_segments(outdir, &there, error);
    free(there);
    if (m != 0) {
        free(segs);
        if (m > 0)
            snprintf(error, KP_PRIVLOG_ERR,
                     "%s already holds segments: export into an empty folder", outdir);
        return -1;
    }
    int rc = 0;
    uint8_t frame[KP_PRIVLOG_FRAME_HEADER + 256];
    size_t len, intact;
    uint64_t last_seq;
    if (a > 0) {
        rc = s_segment_end(dir, &segs[a - 1], frame, &len, &intact, &last_seq, error);
        if (!rc)
            rc = s_anchor_write(outdir, frame, len, error);
    } else {
        Kp__LogCheckpoint *cp;
        int have = s_anchor_read(dir, &cp);
        if (have == 0) {
            uint8_t body[256];
            size_t blen = kp__log_checkpoint__get_packed_size(cp);
            if (blen <= sizeof body) {
                kp__log_checkpoint__pack(cp, body);
                len = s_frame_encode(frame, KP_PRIVLOG_KIND_CHECKPOINT, cp->seq, cp->hash.data,
                                     body, blen);
                rc = s_anchor_write(outdir, frame, len, error);
            }
            kp__log_checkpoint__free_unpacked(cp, NULL);
        } else if (have < 0) {
            snprintf(error, KP_PRIVLOG_ERR, "the anchor of %s is damaged (run 'kpctl log verify')",
                     dir);
            rc = -1;
        }
    }
    for (int i = a; i < b && !rc; i++) {
        //  Copy only the intact part: the live segment may be growing.
        rc = s_segment_end(dir, &segs[i], frame, &len, &intact, &last_seq, error);
        s_map_t map;
        if (!rc && !(rc = s_segment_map(dir, segs[i].name, &map, error))) {
            char path[S_PATH];
            snprintf(path, sizeof path, "%s/%s", outdir, segs[i].name);
            rc = s_file_write(path, map.data, intact < map.size ? intact : map.size, error);
            s_segment_unmap(&map);
        }
    }
    free(segs);
    if (rc)
        return -1;
    s_fsync_dir(outdir);
    return b - a;
}
